import type { ClusterConfig } from "../config/schema";
import type { TopologyPlan } from "./topology";

/**
 * Issue 23: a change of pgtopo:postgresVersion under running nodes, planned. PostgreSQL
 * upgrades a cluster with pg_upgrade, which needs both majors' binaries side by side (the
 * upgrade image, images/upgrade); the steps (images/upgrade/bin/pgtopo-upgrade) run on
 * stopped volumes. This module decides, from the topology and what runs, whether an `up`
 * may upgrade and how each node gets there, and says it in words for preview.
 */

/** The upgrades the upgrade image makes: from a major to a later one. */
export const SUPPORTED_UPGRADES: readonly (readonly [from: string, to: string])[] = [["15", "17"]];

/** A node container of the stack and the major its image runs (preflight/version.ts finds them). */
export interface RunningNode {
    readonly node: string;
    readonly major: string;
}

export interface UpgradePlan {
    readonly from: string;
    readonly to: string;
    readonly primary: string;
    /**
     * The order the servers stop: the primary first, whose shutdown checkpoint then
     * reaches every standby, then the standbys, upstreams before theirs.
     */
    readonly stopOrder: readonly string[];
    /**
     * The standbys brought along without a new base backup (rsync --hard-links of the
     * primary's old and new directories onto their volumes): those on the primary's engine
     * whose upstreams are too, since rsync needs both volumes in one place.
     */
    readonly linked: readonly string[];
    /**
     * The other standbys, upstreams before theirs: on another host than the primary (no
     * channel between two hosts' volumes), or downstream of one that is (a standby cannot
     * follow an upstream cloned after the point it stopped at). Each gets a new base backup
     * from its upstream once that runs the new major; until the upgrade is committed their
     * data is not touched, so a rollback finds them as they were.
     */
    readonly recloned: readonly string[];
    /** What preview and `up` say, in words. */
    readonly summary: string;
}

export type UpgradeDecision =
    | { readonly kind: "none" }
    | { readonly kind: "upgrade"; readonly plan: UpgradePlan }
    | { readonly kind: "refused"; readonly problems: readonly string[] };

const quoted = (names: readonly string[]) => names.map((n) => `"${n}"`).join(", ");
const listed = (names: readonly string[]) => names.join(", ");

/**
 * Whether this `up` upgrades the stack's major, and how. `running` is every node container
 * found (an empty list: a new stack, nothing to upgrade). An upgrade changes nothing else in
 * the same `up`: the nodes that run are the nodes of the config, the primary stays where it
 * is, and no host is marked gone; each of these is refused with a sentence instead.
 */
export function planUpgrade(
    config: Pick<ClusterConfig, "backup" | "synchronous">,
    plan: TopologyPlan,
    running: readonly RunningNode[],
    requested: string,
    stack: string,
): UpgradeDecision {
    const field = `pgtopo:postgresVersion: "${requested}"`;
    const other = running.filter((r) => r.major !== requested);
    if (other.length === 0) return { kind: "none" };

    const majors = [...new Set(running.map((r) => r.major))].sort((a, b) => Number(a) - Number(b));
    const nodesOf = (major: string) => running.filter((r) => r.major === major).map((r) => r.node).sort(); // prettier-ignore
    const which = majors.map((m) => `${m} (${listed(nodesOf(m))})`).join(" and ");
    const upgrades = (from: string, to: string) => SUPPORTED_UPGRADES.some(([f, t]) => f === from && t === to);
    // Containers on two majors that pgtopo upgrades between: an `up` that upgraded was cut
    // off while the containers were being replaced, which happens only once every volume
    // holds the later major (scripts/upgrade.sh commits first). Forward is the only way:
    // asked for, this `up` finishes it (the step finds where the volumes are); otherwise refused.
    const cutOff = majors.length === 2 && upgrades(majors[0], majors[1]);
    if (cutOff && majors[1] !== requested) {
        return refused(
            `${field} is not allowed for stack ${stack}: its nodes run ${which}, from an upgrade to ${majors[1]} that was cut off after it was committed, and it goes forward only (PostgreSQL ${majors[0]} cannot read the linked files again); allowed: "${majors[1]}"`,
        );
    }
    if (majors.length > 1 && !cutOff) {
        return refused(
            `${field} is not allowed for stack ${stack}: its nodes run different majors, ${which}; an upgrade starts from a cluster on one major (bring every node back to ${majors[0]} first)`,
        );
    }
    const from = majors[0];
    if (Number(from) > Number(requested)) {
        return refused(
            `${field} is not allowed for stack ${stack}: its nodes run PostgreSQL ${from} (${listed(nodesOf(from))}), and PostgreSQL has no downgrade (restore a backup into a new stack instead); allowed: "${from}"`,
        );
    }
    if (!upgrades(from, requested)) {
        const to = SUPPORTED_UPGRADES.filter(([f]) => f === from).map(([, t]) => t);
        return refused(
            `${field} is not allowed for stack ${stack}: pgtopo upgrades PostgreSQL ${from} to ${to.length > 0 ? quoted(to) : "no later major"} only; allowed: ${quoted([from, ...to])}`,
        );
    }

    const problems: string[] = [];
    const configured = plan.nodes.map((n) => n.name);
    const runningNames = running.map((r) => r.node);
    // (Cut off, a container may be missing between its removal and its replacement.)
    const added = cutOff ? [] : configured.filter((n) => !runningNames.includes(n));
    const removed = runningNames.filter((n) => !configured.includes(n));
    if (added.length > 0 || removed.length > 0) {
        const parts = [
            ...(added.length > 0 ? [`adds ${listed(added)}`] : []),
            ...(removed.length > 0 ? [`removes ${listed(removed)}`] : []),
        ];
        problems.push(
            `pgtopo:nodes: this config also ${parts.join(" and ")}; an upgrade to ${requested} changes nothing else in the same \`up\` (upgrade first, then change the nodes)`,
        );
    }
    const gone = plan.nodes.filter((n) => n.gone).map((n) => n.name);
    if (gone.length > 0) {
        problems.push(
            `${field}: ${listed(gone)} ${gone.length > 1 ? "are" : "is"} on a host marked gone; an upgrade needs every node (remove ${gone.length > 1 ? "them" : "it"} from pgtopo:nodes first)`,
        );
    }
    if (problems.length > 0) return { kind: "refused", problems };

    const primary = plan.nodes.find((n) => n.role === "primary")!;
    // Upstreams before theirs (the plan's order is by depth), so that "downstream of a
    // re-cloned one" is known when a node is reached.
    const standbys = [...plan.nodes.filter((n) => n.role !== "primary")].sort((a, b) => a.depth - b.depth);
    const recloned: string[] = [];
    for (const n of standbys) {
        if (n.dockerHost !== primary.dockerHost || recloned.includes(n.upstream!)) recloned.push(n.name);
    }
    const linked = standbys.map((n) => n.name).filter((n) => !recloned.includes(n));
    // Synchronous standbys that will not confirm commits before their copy is done: if the
    // linked ones are too few for the count, commits wait for them.
    const synchronous = config.synchronous?.standbys ?? [];
    const waitsForCopy =
        synchronous.filter((n) => linked.includes(n)).length < (config.synchronous?.count ?? 0)
            ? synchronous.filter((n) => recloned.includes(n))
            : [];
    const stopOrder = [primary.name, ...linked];
    const summary = [
        ...(cutOff
            ? [
                  `An earlier \`up\` that upgraded stack ${stack} was cut off with its nodes on ${which}: this one finishes it from where the volumes are (what follows, as far as it was not done).`,
              ]
            : []),
        `PostgreSQL ${from} -> ${requested} for stack ${stack}: pg_upgrade --check first, with every node up;`,
        `then ${listed(stopOrder)} stop (${primary.name}, the primary, first) for as long as pg_upgrade --link takes, which links the data files instead of copying them (seconds to a minute, whatever the data's size);`,
        ...(linked.length > 0
            ? [
                  `${listed(linked)} follow without a new base backup (rsync --hard-links: only what pg_upgrade wrote anew is copied: the catalogs and the new WAL, tens of MB whatever the data's size);`,
              ]
            : []),
        ...(recloned.length > 0
            ? [
                  `${listed(recloned)} get a new base backup instead (on another host than ${primary.name}, or downstream of one that is: rsync needs both volumes on one host), a full copy of the data from each one's upstream once it runs ${requested}; they keep running ${from} untouched until the upgrade is committed, and serve no reads from then until their copy is done;`,
              ]
            : []),
        ...(waitsForCopy.length > 0
            ? [
                  `with pgtopo:synchronous, commits wait until the copy of ${listed(waitsForCopy)} is done (fewer than ${config.synchronous!.count} of its synchronous standbys are linked);`,
              ]
            : []),
        `writes stop from the primary's stop until it runs ${requested}; a failure before every new data directory is ready puts ${from} back as it was and starts it again;`,
        `then each node starts on ${requested}, its standbys' slots are made again and statistics are rebuilt (vacuumdb --analyze-in-stages) while it takes writes` +
            (config.backup
                ? `; with backups on, pgBackRest's stanza-upgrade and a new full backup (backups of ${from} cannot restore ${requested}).`
                : "."),
    ].join(" ");
    return {
        kind: "upgrade",
        plan: { from, to: requested, primary: primary.name, stopOrder, linked, recloned, summary },
    };
}

function refused(problem: string): UpgradeDecision {
    return { kind: "refused", problems: [problem] };
}

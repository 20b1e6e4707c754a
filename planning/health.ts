import type { NodeObservation } from "./observation";
import { lagBytes } from "./lsn";
import { slotNameFor, type NodeSummary, type Role } from "./topology";

/** What the config says a node should be: the stack's `nodes` output says of a node (planning/topology.ts, nodesSummary). */
export type DesiredNode = NodeSummary;

export type NodeState = "primary" | "streaming" | "catching up" | "not streaming" | "stopped" | "unreachable";

export interface NodeStatus {
    readonly name: string;
    readonly role: Role | "unknown";
    readonly desiredRole: Role;
    readonly upstream: string | null;
    readonly state: NodeState;
    readonly timeline: number | null;
    readonly lagBytes: number | null;
    readonly lagSeconds: number | null;
    /** Whether this standby's slot on its upstream is in use; null for the primary. */
    readonly slotActive: boolean | null;
    /** Whether this standby's replication connection is encrypted; null when it has none. */
    readonly tls: boolean | null;
}

export interface ClusterStatus {
    readonly healthy: boolean;
    readonly primary: string;
    readonly nodes: readonly NodeStatus[];
    /** One sentence per way the running cluster differs from the config. */
    readonly differences: readonly string[];
    /** Things worth knowing that do not make the cluster unhealthy (kept diverged data). */
    readonly notices: readonly string[];
}

/** A standby this far behind its primary is "catching up" rather than "streaming". */
export const CATCHING_UP_BYTES = 16 * 1024 * 1024;

/**
 * Compares what runs with what the config asks for. Pure: the observations come from
 * ops/observe.ts, so every verdict here is unit-tested on made-up observations.
 */
export function assessCluster(
    desired: Readonly<Record<string, DesiredNode>>,
    primary: string,
    observed: readonly NodeObservation[],
    /** pgtopo:tls: a replication connection without TLS is then a difference. */
    options: { readonly tls?: boolean } = {},
): ClusterStatus {
    const byName = new Map(observed.map((o) => [o.name, o]));
    const differences: string[] = [];
    const primaryLsn = byName.get(primary)?.inRecovery === false ? byName.get(primary)?.walLsn : undefined;

    const nodes = Object.entries(desired).map(([name, want]): NodeStatus => {
        const seen = byName.get(name);
        const upstreamSeen = want.upstream ? byName.get(want.upstream) : undefined;
        const slotName = slotNameFor(name);
        const slot = upstreamSeen?.slots.find((s) => s.name === slotName);
        const replica = upstreamSeen?.replicas.find((r) => r.name === name);
        const role: NodeStatus["role"] =
            seen?.inRecovery === undefined ? "unknown" : seen.inRecovery ? "standby" : "primary";

        let state: NodeState;
        if (!seen || seen.container !== "running") {
            state = "stopped";
            differences.push(`${name} is not running (container ${seen?.container ?? "missing"})`);
        } else if (!seen.reachable) {
            state = "unreachable";
            differences.push(`${name} does not answer: ${seen.error ?? "no reply"}`);
        } else if (role === "primary") {
            state = "primary";
        } else if (seen.receiverStatus !== "streaming") {
            state = "not streaming";
        } else {
            const behind = primaryLsn && seen.replayLsn ? lagBytes(primaryLsn, seen.replayLsn) : 0;
            state = behind > CATCHING_UP_BYTES ? "catching up" : "streaming";
        }

        if (role !== "unknown" && role !== want.role) {
            differences.push(
                want.role === "primary"
                    ? `${name} should be the primary but is in recovery`
                    : `${name} should be a standby but is not in recovery (it accepts writes)`,
            );
        }
        if (role === "standby" && want.upstream) {
            if (seen?.receiverStatus !== "streaming") {
                differences.push(`${name} should stream from ${want.upstream} but is not streaming`);
            } else if (seen.upstreamHost !== want.upstream) {
                differences.push(`${name} streams from ${seen.upstreamHost} instead of ${want.upstream}`);
            }
            if (options.tls && replica?.ssl === false) {
                differences.push(`${name} streams from ${want.upstream} without TLS, though pgtopo:tls is on`);
            }
            if (upstreamSeen?.reachable && !slot) {
                differences.push(`${name}'s slot ${slotName} is missing on ${want.upstream}`);
            }
        }

        return {
            name,
            role,
            desiredRole: want.role,
            upstream: role === "standby" ? (seen?.upstreamHost ?? want.upstream ?? null) : null,
            state,
            timeline: seen?.timeline ?? null,
            lagBytes: role === "standby" && primaryLsn && seen?.replayLsn ? lagBytes(primaryLsn, seen.replayLsn) : null,
            lagSeconds: role === "standby" ? (replica ? (replica.replayLagSeconds ?? 0) : null) : null,
            slotActive: want.role === "standby" ? (slot?.active ?? false) : null,
            tls: role === "standby" ? (replica?.ssl ?? null) : null,
        };
    });

    // A slot nobody consumes holds WAL until the disk fills: name every one.
    for (const node of observed) {
        for (const slot of node.slots) {
            const consumer = Object.entries(desired).find(
                ([n, w]) => slotNameFor(n) === slot.name && w.upstream === node.name,
            );
            if (!consumer) differences.push(`slot ${slot.name} on ${node.name} has no consumer in the config`);
            else if (slot.walStatus === "lost") {
                differences.push(`slot ${slot.name} on ${node.name} is lost: the WAL ${consumer[0]} needs is gone`);
            } else if (!slot.active) differences.push(`slot ${slot.name} on ${node.name} is not in use`);
        }
    }
    const primaries = nodes.filter((n) => n.role === "primary").map((n) => n.name);
    if (primaries.length > 1) differences.push(`more than one node accepts writes: ${primaries.join(", ")}`);

    // A re-clone keeps the diverged data directory; it takes disk until someone decides.
    const notices = observed.flatMap((o) =>
        (o.keptData ?? []).map((dir) =>
            dir.endsWith("-wal")
                ? `${o.name} keeps the WAL a rewind discarded: ${dir} (remove it when done)`
                : `${o.name} keeps a diverged data directory from a re-clone: ${dir} (remove it when done)`,
        ),
    );
    const unique = [...new Set(differences)];
    return { healthy: unique.length === 0, primary, nodes, differences: unique, notices };
}

/** The topology as an indented tree, upstreams above their standbys. */
export function topologyTree(desired: Readonly<Record<string, DesiredNode>>, primary: string): string {
    const children = (parent: string) =>
        Object.entries(desired)
            .filter(([, w]) => w.upstream === parent)
            .map(([n]) => n);
    const lines = [`${primary} (primary)`];
    const walk = (parent: string, prefix: string) => {
        const kids = children(parent);
        kids.forEach((kid, i) => {
            const last = i === kids.length - 1;
            lines.push(`${prefix}${last ? "└── " : "├── "}${kid}`);
            walk(kid, `${prefix}${last ? "    " : "│   "}`);
        });
    };
    walk(primary, "");
    return lines.join("\n");
}

import type { NodeObservation } from "./observation";
import { lagBytes } from "./lsn";

/**
 * How the running cluster gets from its current primary to the configured one, decided
 * from observations alone (ops/observe.ts), so that an interrupted run is finished by the
 * next one: it observes where the last one stopped and plans from there.
 */
export type Transition =
    /** The configured primary is the only node that accepts writes. */
    | { readonly kind: "none"; readonly primary: string; readonly fence: readonly string[] }
    /** The old primary answers: fence it, let the target catch up, promote, rejoin. */
    | { readonly kind: "switchover"; readonly from: string; readonly to: string; readonly fence: readonly string[] }
    /** No node accepts writes (the old primary is lost or was fenced): promote the target. */
    | { readonly kind: "failover"; readonly to: string; readonly fence: readonly string[] }
    /** Not safe to do: nothing is changed, the message says why and what to do. */
    | { readonly kind: "refused"; readonly reason: string };

export interface TransitionOptions {
    /** A failover target further behind another reachable standby than this is refused. */
    readonly maxLagOnFailover: number;
}

const writable = (o: NodeObservation) => o.reachable && o.inRecovery === false;
/** Down, and its data may be a primary's: it must never start as it is (a stopped standby may). */
const mayComeBackAsPrimary = (o: NodeObservation) => !o.reachable && !(o.container === "stopped" && o.dataIsStandby);

/**
 * `fence` lists every node that must stop accepting writes (and come back as a standby):
 * any writable node other than the target, and any node that is down but not the target
 * (a lost old primary must never come back as a primary).
 */
export function planTransition(
    target: string,
    observed: readonly NodeObservation[],
    options: TransitionOptions,
): Transition {
    const targetSeen = observed.find((o) => o.name === target);
    const others = observed.filter((o) => o.name !== target);
    const writers = others.filter(writable).map((o) => o.name);
    const down = others.filter(mayComeBackAsPrimary).map((o) => o.name);

    if (targetSeen && writable(targetSeen)) {
        // Nothing to move, but a node whose container is stopped with a primary's data
        // (say an old primary stopped by hand) comes back as a standby, never as a second
        // primary. A stopped standby is simply started (planning/repair.ts).
        const stopped = others.filter((o) => o.container === "stopped" && mayComeBackAsPrimary(o)).map((o) => o.name);
        return { kind: "none", primary: target, fence: [...writers, ...stopped] };
    }
    if (!targetSeen || !targetSeen.reachable) {
        return {
            kind: "refused",
            reason: `pgtopo:primary: "${target}" cannot be promoted: it does not answer (${targetSeen?.error ?? "not found"}); name a node that runs`,
        };
    }
    if (writers.length > 0) {
        return { kind: "switchover", from: writers[0], to: target, fence: [...writers, ...down] };
    }

    // Failover: the target's received WAL against every other reachable standby's.
    const targetLsn = targetSeen.walLsn ?? "0/0";
    const ahead = others
        .filter((o) => o.reachable && o.inRecovery && o.walLsn)
        .map((o) => ({ name: o.name, behind: lagBytes(o.walLsn!, targetLsn) }))
        .sort((a, b) => b.behind - a.behind)[0];
    if (ahead && ahead.behind > options.maxLagOnFailover) {
        return {
            kind: "refused",
            reason:
                `pgtopo:primary: "${target}" is ${ahead.behind} bytes behind "${ahead.name}"; promoting it would lose ` +
                `the transactions only "${ahead.name}" has. Name "${ahead.name}" as primary, or set ` +
                `pgtopo:maxLagOnFailover to at least ${ahead.behind} to promote "${target}" anyway ` +
                `(now ${options.maxLagOnFailover})`,
        };
    }
    // Promoting a standby that is behind others (allowed by maxLagOnFailover) leaves
    // those others with WAL the new timeline does not have: they rejoin like a lost
    // primary, rewound, instead of being re-pointed as they are.
    const diverged = others
        .filter((o) => o.reachable && o.inRecovery && o.walLsn && lagBytes(o.walLsn, targetLsn) > 0)
        .map((o) => o.name);
    return { kind: "failover", to: target, fence: [...down, ...diverged] };
}

const rejoined = (nodes: readonly string[]) =>
    `rejoined as ${nodes.length === 1 ? "a standby" : "standbys"} ` +
    "(rewound if needed; re-cloned, with the old data kept aside, if it cannot be rewound)";

/** The plain-words line `pulumi preview` and `up` print before anything is done. */
export function describeTransition(t: Transition): string {
    switch (t.kind) {
        case "none":
            return t.fence.length > 0
                ? `${t.primary} stays primary; ${t.fence.join(", ")} will be fenced if running and (re)started as standbys`
                : `${t.primary} stays primary`;
        case "switchover":
            return `switchover: ${t.from} will be fenced (stopped cleanly), ${t.to} promoted once it has all of ${t.from}'s WAL, ${t.fence.join(", ")} ${rejoined(t.fence)}; standbys whose upstream changes are re-pointed without a re-clone`;
        case "failover":
            return `failover: no node accepts writes; ${t.to} will be promoted${t.fence.length > 0 ? `, ${t.fence.join(", ")} fenced and ${rejoined(t.fence)}` : ""}; standbys whose upstream changes are re-pointed without a re-clone`;
        case "refused":
            return `refused: ${t.reason}`;
    }
}

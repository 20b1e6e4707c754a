import type { NodeObservation } from "./observation";
import type { PlannedNode } from "./topology";

/** What repairs need of a planned node: whom it streams from, through which slot, and whether its host is gone. */
export type PlannedStandby = Pick<PlannedNode, "name" | "upstream" | "slot" | "gone">;

export type RepairAction =
    /** Stopped, and its data is a standby's: start it as it is. */
    | "start"
    /** Accepts writes, was a primary, or went past the new timeline's fork: fence, pg_rewind, start as a standby. */
    | "rejoin"
    /** Cannot get the WAL it needs from its upstream: clone it afresh (a standby's copy holds nothing unique). */
    | "reclone"
    /** Its slot on its upstream is missing: create it. */
    | "create-slot"
    /** Streams from the wrong upstream or through the wrong slot: re-point it (reload, no restart). */
    | "repoint"
    /** In recovery and pointed right, but not streaming: wait for it, and find out why if it does not. */
    | "check-streaming"
    /** A pgtopo slot that no configured node consumes: it would hold WAL until the disk fills. */
    | "drop-slot";

export interface Repair {
    readonly node: string;
    readonly action: RepairAction;
    /** What was found, in plain words. */
    readonly reason: string;
    /** For create-slot and drop-slot: the slot, and the node it lives on. */
    readonly slot?: string;
    readonly on?: string;
    /** For create-slot: a lost slot is dropped before it is made again. */
    readonly replace?: boolean;
}

/** pgtopo's slots carry this prefix; slots of anyone else's are never touched. */
export const SLOT_PREFIX = "pgtopo_";

/**
 * What must be repaired so that every node is what the plan says, node by node in the
 * order of the planned tree (upstreams first: a node is pointed at its upstream only once
 * that upstream is settled). Pure: observations in, repairs out, so that the preview
 * describes exactly what the converge step will do. `fenced` are the nodes the change of
 * primary already fences (planning/transition.ts); they rejoin in their place in the tree.
 */
export function planRepairs(
    primary: string,
    nodes: readonly PlannedStandby[],
    observed: readonly NodeObservation[],
    fenced: readonly string[] = [],
): Repair[] {
    const seen = new Map(observed.map((o) => [o.name, o]));
    const repairs: Repair[] = [];
    const primaryTimeline = seen.get(primary)?.inRecovery === false ? seen.get(primary)?.timeline : undefined;

    for (const node of nodes) {
        if (node.name === primary || !node.upstream || !node.slot || node.gone) continue;
        // Not observed: a node this very `up` creates, with its slot and clone.
        const o = seen.get(node.name);
        if (!o) continue;
        const upstream = seen.get(node.upstream);
        const add = (action: RepairAction, reason: string, extra: Partial<Repair> = {}) =>
            repairs.push({ node: node.name, action, reason, ...extra });

        // Its slot first: whatever else happens to the node, it streams through it.
        const slot = upstream?.reachable ? upstream.slots.find((s) => s.name === node.slot) : undefined;
        const slotLost = slot?.walStatus === "lost";
        if (upstream?.reachable && (!slot || slotLost)) {
            add(
                "create-slot",
                slotLost
                    ? `its slot ${node.slot} on ${node.upstream} is lost (the WAL it held was removed)`
                    : `its slot ${node.slot} is missing on ${node.upstream}`,
                { slot: node.slot, on: node.upstream, replace: slotLost },
            );
        }

        if (o.container === "missing") {
            add("start", "its container is missing; it is recreated on its volume");
        } else if (fenced.includes(node.name)) {
            add(
                "rejoin",
                !o.reachable
                    ? "it may hold a primary's data"
                    : o.inRecovery === false
                      ? "it accepts writes but must be a standby"
                      : "it has WAL the new primary does not have",
            );
        } else if (o.container === "stopped") {
            if (o.dataIsStandby) add("start", "its container is stopped; its data is a standby's");
            else add("rejoin", "its container is stopped and its data is a primary's");
        } else if (!o.reachable) {
            add("check-streaming", `it does not answer (${o.error ?? "no reply"})`);
        } else if (o.inRecovery === false) {
            add("rejoin", "it accepts writes but must be a standby (promoted outside pgtopo?)");
        } else if (primaryTimeline !== undefined && o.timeline !== undefined && o.timeline > primaryTimeline) {
            add("rejoin", `it is on timeline ${o.timeline}, which the primary (on ${primaryTimeline}) does not have`);
        } else if (slotLost) {
            add("reclone", `the WAL it needs is gone from ${node.upstream}`);
        } else if (o.conninfoHost !== node.upstream || o.slotSetting !== node.slot) {
            add(
                "repoint",
                `it is told to stream from ${o.conninfoHost ?? "nowhere"} through ${o.slotSetting ?? "no slot"}, ` +
                    `not from ${node.upstream} through ${node.slot}`,
            );
        } else if (
            o.receiverStatus !== "streaming" ||
            o.upstreamHost !== node.upstream ||
            (upstream?.timeline !== undefined && o.timeline !== upstream.timeline)
        ) {
            const behind =
                primaryTimeline !== undefined && o.timeline !== undefined && o.timeline < primaryTimeline
                    ? ` (on timeline ${o.timeline}, the primary is on ${primaryTimeline})`
                    : "";
            add("check-streaming", `it does not stream from ${node.upstream}${behind}`);
        }
    }

    // A pgtopo slot no planned standby consumes on that node holds WAL for nobody. One in
    // use is left to the step that stops its consumer (a node being removed, whose slot
    // resource drops it once the node is gone): dropping it under a running standby
    // would only make that standby fail.
    const wanted = new Set(nodes.filter((n) => n.upstream && n.slot).map((n) => `${n.upstream}/${n.slot}`));
    for (const o of observed) {
        for (const slot of o.slots) {
            if (slot.name.startsWith(SLOT_PREFIX) && !slot.active && !wanted.has(`${o.name}/${slot.name}`)) {
                repairs.push({
                    node: o.name,
                    action: "drop-slot",
                    reason: `slot ${slot.name} on ${o.name} has no consumer in the config`,
                    slot: slot.name,
                    on: o.name,
                });
            }
        }
    }
    return repairs;
}

const WHAT: Record<RepairAction, string> = {
    start: "start it as it is",
    rejoin: "fence it and rejoin it as a standby (pg_rewind; its diverged WAL kept aside; re-cloned if it cannot be rewound)",
    reclone: "clone it afresh from its upstream (its old copy is a standby's and is not kept)",
    "create-slot": "create the slot",
    repoint: "re-point it (reload, no restart)",
    "check-streaming": "wait for it to stream, then rewind or re-clone it if it cannot",
    "drop-slot": "drop the slot",
};

/** One plain-words line per repair, for `pulumi preview` and the converge log. */
export function describeRepairs(repairs: readonly Repair[]): string[] {
    return repairs.map((r) => `${r.node}: ${r.reason}: ${WHAT[r.action]}`);
}

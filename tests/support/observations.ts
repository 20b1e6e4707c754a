import type { NodeObservation } from "../../planning/observation";
import { slotNameFor } from "../../planning/topology";

/**
 * Observations of nodes as ops/observe.ts makes them, for the unit tests of the pure
 * decisions (transitions, repairs, health, why a standby does not stream): a running node
 * that answered, with what the test says on top.
 */
export function observed(name: string, change: Partial<NodeObservation> = {}): NodeObservation {
    return { name, container: "running", reachable: true, slots: [], replicas: [], ...change };
}

/** A primary on timeline 1. */
export const observedPrimary = (name: string, change: Partial<NodeObservation> = {}) =>
    observed(name, { inRecovery: false, timeline: 1, ...change });

/** A standby on timeline 1, told to stream from `upstream` through its slot, and streaming. */
export const observedStandby = (name: string, upstream: string, change: Partial<NodeObservation> = {}) =>
    observed(name, {
        inRecovery: true,
        timeline: 1,
        upstreamHost: upstream,
        receiverStatus: "streaming",
        conninfoHost: upstream,
        slotSetting: slotNameFor(name),
        ...change,
    });

/** A node whose container is stopped: not asked. */
export const observedStopped = (name: string, change: Partial<NodeObservation> = {}) =>
    observed(name, { container: "stopped", reachable: false, error: "container stopped", ...change });

/** The list with one node's observation changed. */
export const changed = (list: readonly NodeObservation[], name: string, change: Partial<NodeObservation>) =>
    list.map((o) => (o.name === name ? { ...o, ...change } : o));

import type { ClusterConfig } from "../config/schema";
import { STACK_LABEL, stackCaFile, stackNames } from "../contract/names";
import type { NodeObservation } from "./observation";
import { describeRepairs, planRepairs, type PlannedStandby, type Repair } from "./repair";
import {
    describeRouterRepairs,
    planRouterRepairs,
    planRouters,
    type RouterObservation,
    type RouterPlan,
    type RouterRepair,
} from "./routers";
import type { PlannedNode, TopologyPlan } from "./topology";
import { describeTransition, planTransition, type Transition } from "./transition";

/**
 * What the converge Command hands over (as JSON in PGTOPO_REQUEST); the passwords come
 * separately. `nodes` are in the order of the planned tree: upstreams before their standbys.
 */
export interface ConvergeRequest {
    /** The stack's label (pgtopo.stack=NAME), put on every one-shot container. */
    readonly stackLabel: string;
    readonly target: string;
    readonly maxLagOnFailover: number;
    readonly image: string;
    readonly network: string;
    readonly nodes: readonly PlannedNode[];
    /** pgtopo:tls: the stack's CA on this machine, to verify the nodes over TCP. */
    readonly caFile?: string;
    /** pgtopo:endpoints: the routers, paused around a switchover and pointed at the primary. */
    readonly routers: readonly RouterPlan[];
    /** pgtopo:endpoints.pauseTimeout: how long a switchover waits for in-flight transactions. */
    readonly pauseTimeout: number;
}

/** The converge request of a stack's config and its planned topology. */
export function convergeRequest(stack: string, config: ClusterConfig, plan: TopologyPlan): ConvergeRequest {
    const names = stackNames(stack);
    return {
        stackLabel: `${STACK_LABEL}=${stack}`,
        target: plan.primary,
        maxLagOnFailover: config.maxLagOnFailover,
        caFile: config.tls ? stackCaFile(stack) : undefined,
        image: names.image(config.postgresVersion),
        network: names.network,
        nodes: plan.nodes,
        routers: planRouters(config, plan, stack),
        pauseTimeout: config.endpoints?.pauseTimeout ?? 10,
    };
}

/** What the program found and what the converge step will do about it, before doing it. */
export interface ConvergencePlan {
    /** The configured primary's container is stopped: it is started first. */
    readonly startPrimary: boolean;
    /** Who must be primary, and how it gets there; undefined until the primary runs. */
    readonly transition?: Transition;
    readonly repairs: readonly Repair[];
    readonly routerRepairs: readonly RouterRepair[];
    /** Whether anything differs from the config: the converge step must run. */
    readonly drifted: boolean;
    /**
     * No node existed before this `up`: each is made by it where the config puts it (a
     * standby cloned from its planned upstream), so no standby is re-pointed.
     */
    readonly newCluster: boolean;
    /** The plan in plain words, one line per step. */
    readonly lines: readonly string[];
}

/**
 * Pure: from observations of the nodes that exist (a node this `up` creates is simply not
 * observed), what converging takes. The same function plans for `pulumi preview`, for the
 * program's drift check and, observed again, for the converge step itself.
 */
export function planConvergence(
    request: {
        readonly target: string;
        readonly maxLagOnFailover: number;
        readonly nodes: readonly PlannedStandby[];
        readonly routers?: readonly RouterPlan[];
    },
    observed: readonly NodeObservation[],
    routersObserved: readonly RouterObservation[] = [],
): ConvergencePlan {
    const target = observed.find((o) => o.name === request.target);
    const startPrimary = target?.container === "stopped";
    const transition = startPrimary
        ? undefined
        : planTransition(request.target, observed, { maxLagOnFailover: request.maxLagOnFailover });
    const fence = transition && transition.kind !== "refused" ? transition.fence : [];
    const repairs = planRepairs(request.target, request.nodes, observed, fence);
    const routerRepairs = planRouterRepairs(request.routers ?? [], routersObserved);
    // What the user said is lost is left alone: pgtopo cannot fence what it cannot reach.
    const gone = request.nodes.filter((n) => n.gone).map((n) => n.name);
    const lines = [
        ...(startPrimary ? [`${request.target}: the primary's container is stopped: start it`] : []),
        ...(transition ? [describeTransition(transition)] : []),
        ...describeRepairs(repairs),
        ...describeRouterRepairs(routerRepairs),
        ...(gone.length > 0
            ? [
                  `${gone.join(", ")}: on a host marked gone, not fenced and not repaired; once the host is back and its 'gone' removed, the next 'up' fences and rejoins ${gone.length === 1 ? "it" : "them"}`,
              ]
            : []),
    ];
    const settled = !startPrimary && transition?.kind === "none" && transition.fence.length === 0;
    return {
        startPrimary,
        transition,
        repairs,
        routerRepairs,
        drifted: !settled || repairs.length > 0 || routerRepairs.length > 0,
        newCluster: observed.length === 0,
        lines,
    };
}

import type { ClusterConfig, EndpointsConfig } from "../config/schema";
import { stackNames } from "../contract/names";
import { splitEndpoint } from "./endpoint";
import type { TopologyPlan } from "./topology";

/** A router's two listeners: `rw` reaches the primary, `ro` the streaming standbys. */
export type Listener = "rw" | "ro";
export const LISTENERS: readonly Listener[] = ["rw", "ro"];

/** Where a router sends its listeners' server connections: host:port as seen from the router. */
export interface RouterTargets {
    readonly rw: string;
    /** Every standby, in the order of the planned tree; the primary when there is none. */
    readonly ro: readonly string[];
}

/**
 * One router (PgBouncer, images/pgbouncer) as pgtopo runs it: one per Docker host of the
 * stack (one on a single machine), each publishing the configured listeners on its host's
 * address (127.0.0.1 on one machine).
 */
export interface RouterPlan {
    /** "router" on one machine; "router-<host>" with pgtopo:hosts. */
    readonly name: string;
    /** Its host in pgtopo:hosts and that engine's DOCKER_HOST; undefined: the local engine. */
    readonly host?: string;
    readonly dockerHost?: string;
    /** Its host is marked gone: never contacted, left as it is. */
    readonly gone?: true;
    /** Where its listeners are published. */
    readonly address: string;
    readonly container: string;
    /** The published port of each configured listener. */
    readonly listeners: Readonly<Partial<Record<Listener, number>>>;
    /** Where the listeners point when the cluster is as configured. */
    readonly targets: RouterTargets;
}

/** A node's endpoint as host:port (a bare name is reached on 5432 on the stack's network). */
const hostPort = (endpoint: string) => {
    const { host, port } = splitEndpoint(endpoint);
    return `${host}:${port}`;
};

/** Where the listeners of every router point when the cluster is as `plan` says. */
export function routerTargets(plan: TopologyPlan): RouterTargets {
    const primary = plan.nodes.find((n) => n.name === plan.primary)!;
    const standbys = plan.nodes.filter((n) => n.name !== plan.primary && !n.gone);
    return {
        rw: hostPort(primary.endpoint),
        ro: (standbys.length > 0 ? standbys : [primary]).map((n) => hostPort(n.endpoint)),
    };
}

/** The routers of pgtopo:endpoints: one per host (one on a single machine); none when off. */
export function planRouters(config: ClusterConfig, plan: TopologyPlan, stack: string): RouterPlan[] {
    const endpoints = config.endpoints;
    if (!endpoints) return [];
    const names = stackNames(stack);
    const listeners = {
        ...(endpoints.rw ? { rw: endpoints.rw.port } : {}),
        ...(endpoints.ro ? { ro: endpoints.ro.port } : {}),
    };
    const targets = routerTargets(plan);
    if (!config.hosts) {
        return [{ name: "router", address: "127.0.0.1", container: names.router, listeners, targets }];
    }
    return Object.entries(config.hosts)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([host, h]) => ({
            name: `router-${host}`,
            host,
            dockerHost: h.docker,
            ...(h.gone ? { gone: true as const } : {}),
            address: h.address,
            container: names.router,
            listeners,
            targets,
        }));
}

/**
 * Each listener's port must be free on every host a router runs on: not another listener's,
 * not a node's there. Returns one sentence per clash.
 */
export function endpointProblems(config: ClusterConfig): string[] {
    const endpoints: EndpointsConfig | undefined = config.endpoints;
    if (!endpoints) return [];
    const problems: string[] = [];
    if (endpoints.rw && endpoints.ro && endpoints.rw.port === endpoints.ro.port) {
        problems.push(
            `pgtopo:endpoints.ro.port: ${endpoints.ro.port} is rw's port too; each listener needs its own port`,
        );
    }
    for (const listener of LISTENERS) {
        const port = endpoints[listener]?.port;
        if (port === undefined) continue;
        config.nodes.forEach((node, i) => {
            if (node.port !== port) return;
            const where = node.host ? ` on host ${node.host}, where every host has a router` : "";
            problems.push(
                `pgtopo:endpoints.${listener}.port: ${port} is the port of pgtopo:nodes[${i}] (${node.name})${where}; choose a port no node uses`,
            );
        });
    }
    // PgBouncer 1.24 reaches a list of hosts on one port: across hosts, ro's standbys (any
    // node, after a change of primary) must share theirs.
    if (endpoints.ro && config.hosts) {
        const ports = [...new Set(config.nodes.filter((n) => !config.hosts?.[n.host ?? ""]?.gone).map((n) => n.port))];
        if (ports.length > 1) {
            problems.push(
                `pgtopo:endpoints.ro: the nodes listen on ports ${ports.sort((a, b) => a - b).join(", ")} of their hosts; ` +
                    "ro reaches the standbys as one list of hosts, which PgBouncer 1.24 takes on one port: give every node the same port (each host has its own), or leave ro out",
            );
        }
    }
    return problems;
}

/** What a router says of itself (ops/routers.ts: `pgtopo-router state` in its container). */
export interface RouterObservation {
    readonly name: string;
    readonly container: "running" | "stopped" | "missing";
    /** Not asked: its host is marked gone, or its engine does not answer. */
    readonly error?: string;
    /** Each listener that answered: paused or not, where it points, its connections. */
    readonly listeners: Readonly<
        Partial<
            Record<
                Listener,
                {
                    readonly paused: boolean;
                    readonly target?: string;
                    readonly clients: number;
                    readonly servers: number;
                }
            >
        >
    >;
}

export type RouterRepairAction =
    /** Its container is stopped: start it. */
    | "start"
    /** A listener is paused (by hand, or by an `up` killed mid-switchover): resume it. */
    | "resume"
    /** It points elsewhere than the plan says (or nowhere yet): point it. */
    | "point";

export interface RouterRepair {
    readonly router: string;
    readonly action: RouterRepairAction;
    /** What was found, in plain words. */
    readonly reason: string;
}

/** The text a listener's target is, as `pgtopo-router state` reports it. */
export const targetText = (targets: RouterTargets, listener: Listener) =>
    listener === "rw" ? targets.rw : targets.ro.join(",");

/**
 * What must be done to each router so that it serves the plan: started, resumed, pointed.
 * Pure, like planning/repair.ts for the nodes. A router on a host marked gone is left
 * alone; one whose container is missing is recreated by Pulumi and pointed by the next
 * step that sees it.
 */
export function planRouterRepairs(
    routers: readonly RouterPlan[],
    observed: readonly RouterObservation[],
): RouterRepair[] {
    const repairs: RouterRepair[] = [];
    for (const router of routers) {
        if (router.gone) continue;
        const seen = observed.find((o) => o.name === router.name);
        if (!seen || seen.container === "missing") continue;
        const add = (action: RouterRepairAction, reason: string) =>
            repairs.push({ router: router.name, action, reason });
        if (seen.container === "stopped") {
            add("start", "its container is stopped");
            add("point", "it is pointed once it runs");
            continue;
        }
        const listeners = Object.keys(router.listeners) as Listener[];
        const paused = listeners.filter((l) => seen.listeners[l]?.paused);
        if (paused.length > 0)
            add("resume", `its ${paused.join(" and ")} listener${paused.length > 1 ? "s are" : " is"} paused`);
        const astray = listeners.filter((l) => seen.listeners[l]?.target !== targetText(router.targets, l));
        if (astray.length > 0) {
            add(
                "point",
                astray
                    .map(
                        (l) =>
                            `${l} points at ${seen.listeners[l]?.target || "nothing"}, not ${targetText(router.targets, l)}`,
                    )
                    .join("; "),
            );
        }
    }
    return repairs;
}

const ROUTER_WHAT: Record<RouterRepairAction, string> = {
    start: "start it",
    resume: "resume it",
    point: "point it where the config says",
};

/** One plain-words line per router repair, for `pulumi preview` and the converge log. */
export function describeRouterRepairs(repairs: readonly RouterRepair[]): string[] {
    return repairs.map((r) => `${r.router}: ${r.reason}: ${ROUTER_WHAT[r.action]}`);
}

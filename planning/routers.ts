import type { ClusterConfig, EndpointsConfig } from "../config/schema";
import { stackNames } from "../contract/names";
import { splitEndpoint } from "./endpoint";
import type { TopologyPlan } from "./topology";

/** A router's two listeners: `rw` reaches the primary, `ro` the streaming standbys. */
export type Listener = "rw" | "ro";
export const LISTENERS: readonly Listener[] = ["rw", "ro"];

/** A router's listeners, always in the order rw, ro (whatever order its plan's keys came back in). */
export const listenersOf = (router: { readonly listeners: Readonly<Partial<Record<Listener, number>>> }) =>
    LISTENERS.filter((l) => router.listeners[l] !== undefined);

/** Where a router sends its listeners' server connections: host:port as seen from the router. */
export interface RouterTargets {
    readonly rw: string;
    /** Standbys, in the order of the planned tree; the primary when there is none. */
    readonly ro: readonly string[];
}

/** Where the config says the listeners point: every planned standby on ro, by name too. */
export interface PlannedTargets extends RouterTargets {
    /** The standbys' names, in the order of `ro` (empty when ro is the primary). */
    readonly roNodes: readonly string[];
}

/**
 * The targets to point a router at when some planned standbys are down (`away`: their
 * container stopped, or they do not answer): ro over the others, the primary when none is
 * left. PgBouncer does not skip a host it cannot reach (a failed attempt holds back every
 * new server connection of that listener for server_login_retry), so a standby known to be
 * down is left out until it is back.
 */
export function servingTargets(targets: PlannedTargets, away: ReadonlySet<string> = new Set()): RouterTargets {
    const ro = targets.ro.filter((_, i) => !away.has(targets.roNodes[i]));
    return { rw: targets.rw, ro: ro.length > 0 ? ro : [targets.rw] };
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
    readonly targets: PlannedTargets;
}

/** The router's name on the stack's network (and in its container's name): no node may have it. */
export const ROUTER_NAME = "router";

/** A node's endpoint as host:port (a bare name is reached on 5432 on the stack's network). */
const hostPort = (endpoint: string) => {
    const { host, port } = splitEndpoint(endpoint);
    return `${host}:${port}`;
};

/** Where the listeners of every router point when the cluster is as `plan` says. */
export function routerTargets(plan: TopologyPlan): PlannedTargets {
    const primary = plan.nodes.find((n) => n.name === plan.primary)!;
    const standbys = plan.nodes.filter((n) => n.name !== plan.primary && !n.gone);
    return {
        rw: hostPort(primary.endpoint),
        ro: (standbys.length > 0 ? standbys : [primary]).map((n) => hostPort(n.endpoint)),
        roNodes: standbys.map((n) => n.name),
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
        return [{ name: ROUTER_NAME, address: "127.0.0.1", container: names.router, listeners, targets }];
    }
    return Object.entries(config.hosts)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([host, h]) => ({
            name: `${ROUTER_NAME}-${host}`,
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
    // The router's container, volume and name on the stack's network are a node's names
    // for a node called "router" (contract/names.ts).
    config.nodes.forEach((node, i) => {
        if (node.name !== ROUTER_NAME) return;
        problems.push(
            `pgtopo:nodes[${i}].name: "${ROUTER_NAME}" is the name of the stack's router with pgtopo:endpoints; give the node another name`,
        );
    });
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
    /** Planned standbys known to be down: left out of ro (servingTargets). */
    away: ReadonlySet<string> = new Set(),
): RouterRepair[] {
    const repairs: RouterRepair[] = [];
    for (const router of routers) {
        const targets = servingTargets(router.targets, away);
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
        const listeners = listenersOf(router);
        const paused = listeners.filter((l) => seen.listeners[l]?.paused);
        if (paused.length > 0)
            add("resume", `its ${paused.join(" and ")} listener${paused.length > 1 ? "s are" : " is"} paused`);
        const astray = listeners.filter((l) => seen.listeners[l]?.target !== targetText(targets, l));
        if (astray.length > 0) {
            add(
                "point",
                astray
                    .map(
                        (l) =>
                            `${l} points at ${seen.listeners[l]?.target || "nothing"}, not ${targetText(targets, l)}`,
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

/**
 * The connection URI of a listener for applications (the stack's `endpoints` output), as
 * the superuser: every live router's listener, one libpq multi-host URI, so that a client
 * reaches the cluster through any router that answers. rw asks for a read-write session
 * (target_session_attrs), which every router's rw gives while it points at the primary;
 * with TLS the client verifies the router against the stack's CA. Undefined when no
 * router has that listener.
 */
export function endpointUrl(
    routers: readonly RouterPlan[],
    listener: Listener,
    credentials: { readonly user: string; readonly password: string },
    caFile?: string,
): string | undefined {
    const hosts = routers
        .filter((r) => !r.gone && r.listeners[listener] !== undefined)
        .map((r) => `${r.address}:${r.listeners[listener]}`);
    if (hosts.length === 0) return undefined;
    const params = [
        ...(listener === "rw" ? ["target_session_attrs=read-write"] : []),
        ...(caFile ? ["sslmode=verify-full", `sslrootcert=${encodeURIComponent(caFile)}`] : []),
    ];
    const who = `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}`;
    return `postgresql://${who}@${hosts.join(",")}/postgres${params.length > 0 ? `?${params.join("&")}` : ""}`;
}

/** One listener of a router as `npm run status` shows it. */
export interface ListenerStatus {
    readonly router: string;
    readonly listener: Listener;
    /** Where it points now (null: not pointed, or not asked). */
    readonly target: string | null;
    /** Where the config says it should point. */
    readonly want: string;
    /** null: it did not answer. */
    readonly paused: boolean | null;
    readonly clients: number | null;
    readonly servers: number | null;
}

/**
 * What `npm run status` says of the routers: a row per listener, and one sentence per way a
 * router differs from the config (not running, not answering, paused, pointing elsewhere
 * than the plan says: the primary for rw). Pure, like planning/health.ts for the nodes.
 */
export function assessRouters(
    routers: readonly RouterPlan[],
    observed: readonly RouterObservation[],
    /** Planned standbys that are down: ro is right to leave them out (servingTargets). */
    away: ReadonlySet<string> = new Set(),
): { readonly listeners: ListenerStatus[]; readonly differences: string[] } {
    const listeners: ListenerStatus[] = [];
    const differences: string[] = [];
    for (const router of routers) {
        const targets = servingTargets(router.targets, away);
        const seen = observed.find((o) => o.name === router.name);
        for (const listener of listenersOf(router)) {
            const l = seen?.listeners[listener];
            listeners.push({
                router: router.name,
                listener,
                target: l?.target ?? null,
                want: targetText(targets, listener),
                paused: l ? l.paused : null,
                clients: l ? l.clients : null,
                servers: l ? l.servers : null,
            });
        }
        if (router.gone) continue;
        if (!seen || seen.container !== "running") {
            differences.push(`${router.name} is not running (container ${seen?.container ?? "missing"})`);
            continue;
        }
        if (seen.error) {
            differences.push(`${router.name} could not be asked: ${seen.error}`);
            continue;
        }
        const silent = listenersOf(router).filter((l) => !seen.listeners[l]);
        if (silent.length > 0) {
            const which = silent.length > 1 ? `${silent.join(" and ")} listeners do` : `${silent[0]} listener does`;
            differences.push(`${router.name}: its ${which} not answer`);
        }
        // The rest, of the listeners that answered.
        const answered = Object.fromEntries(
            Object.entries(router.listeners).filter(([l]) => seen.listeners[l as Listener]),
        );
        for (const repair of planRouterRepairs([{ ...router, listeners: answered }], [seen], away)) {
            differences.push(`${router.name}: ${repair.reason}`);
        }
    }
    return { listeners, differences };
}

/**
 * `pgtopo-router state`'s JSON as a RouterObservation's listeners: a listener that does not
 * run (`{"running": false}`) is left out, as one that did not answer.
 */
export function parseRouterState(text: string): RouterObservation["listeners"] {
    const parsed = JSON.parse(text) as Partial<
        Record<
            Listener,
            { running: boolean; paused?: boolean; target?: string | null; clients?: number; servers?: number }
        >
    >;
    return Object.fromEntries(
        LISTENERS.flatMap((listener) => {
            const l = parsed[listener];
            if (!l?.running) return [];
            return [
                [
                    listener,
                    {
                        paused: l.paused === true,
                        ...(l.target ? { target: l.target } : {}),
                        clients: l.clients ?? 0,
                        servers: l.servers ?? 0,
                    },
                ],
            ];
        }),
    );
}

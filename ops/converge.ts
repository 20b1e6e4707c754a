import { EXIT, PATHS } from "../contract/image";
import { lsnToBytes } from "../planning/lsn";
import { describeRepairs, planRepairs, type PlannedStandby, type Repair } from "../planning/repair";
import { describeTransition, planTransition, type Transition } from "../planning/transition";
import { splitEndpoint } from "../planning/topology";
import { dockerOn } from "./docker";
import { observeCluster, observeNode, tcpUrl, type NodeEndpoint, type NodeObservation } from "./observe";

/** One node as the converge step needs it: where it runs and whom it should follow. */
export interface ClusterNode {
    readonly name: string;
    /** Its host is marked gone: never contacted; not fenced, not repaired. */
    readonly gone?: boolean;
    readonly port: number;
    /** Its host in pgtopo:hosts and that engine's DOCKER_HOST; undefined: the local engine. */
    readonly host?: string;
    readonly dockerHost?: string;
    /** Where its port is published: 127.0.0.1, or its host's address. */
    readonly address: string;
    /** How the other nodes reach it (PlannedNode.endpoint): what the node scripts are told. */
    readonly endpoint: string;
    readonly container: string;
    readonly volume: string;
    /** Planned upstream and slot; absent for the primary. */
    readonly upstream?: string;
    readonly slot?: string;
}

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
    readonly nodes: readonly ClusterNode[];
    /** pgtopo:tls: the stack's CA on this machine, to verify the nodes over TCP. */
    readonly caFile?: string;
}

type Log = (line: string) => void;

/**
 * Where to ask each node: over its port published on this machine's loopback when the
 * superuser's password is given; in its container otherwise, and always across hosts,
 * where pg_hba lets in only the cluster's hosts and pgtopo:clients, not this machine.
 */
export const endpointsOf = (request: ConvergeRequest, superuserPassword?: string): NodeEndpoint[] =>
    endpointsFor(request.nodes, (n) =>
        n.dockerHost === undefined ? tcpUrl(superuserPassword, n.port, request.caFile) : undefined,
    );

/** What endpointsFor needs of a node: the converge request's nodes, or the stack's `nodes` output. */
export interface EndpointSource {
    readonly name: string;
    readonly container: string;
    readonly endpoint: string;
    readonly host?: string;
    readonly dockerHost?: string;
    readonly gone?: boolean;
}

/** Where to ask each node, in its container unless `urlOf` gives it a TCP URL. */
export function endpointsFor<T extends EndpointSource>(
    nodes: readonly T[],
    urlOf: (node: T) => string | undefined = () => undefined,
): NodeEndpoint[] {
    const peers = peersOf(nodes);
    return nodes.map((n) => ({
        name: n.name,
        container: n.container,
        dockerHost: n.dockerHost,
        peers,
        ...(n.gone ? { gone: { host: n.host ?? "" } } : {}),
        url: urlOf(n),
    }));
}

/** Each node's endpoint, as "host:port", to its name (NodeEndpoint.peers). */
export function peersOf(nodes: readonly { name: string; endpoint: string }[]): ReadonlyMap<string, string> {
    return new Map(
        nodes.map((n) => {
            const { host, port } = splitEndpoint(n.endpoint);
            return [`${host}:${port}`, n.name];
        }),
    );
}

/** What the program found and what the converge step will do about it, before doing it. */
export interface ConvergencePlan {
    /** The configured primary's container is stopped: it is started first. */
    readonly startPrimary: boolean;
    /** Who must be primary, and how it gets there; undefined until the primary runs. */
    readonly transition?: Transition;
    readonly repairs: readonly Repair[];
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
    },
    observed: readonly NodeObservation[],
): ConvergencePlan {
    const target = observed.find((o) => o.name === request.target);
    const startPrimary = target?.container === "stopped";
    const transition = startPrimary
        ? undefined
        : planTransition(request.target, observed, { maxLagOnFailover: request.maxLagOnFailover });
    const fence = transition && transition.kind !== "refused" ? transition.fence : [];
    const repairs = planRepairs(request.target, request.nodes, observed, fence);
    // What the user said is lost is left alone: pgtopo cannot fence what it cannot reach.
    const gone = request.nodes.filter((n) => n.gone).map((n) => n.name);
    const lines = [
        ...(startPrimary ? [`${request.target}: the primary's container is stopped: start it`] : []),
        ...(transition ? [describeTransition(transition)] : []),
        ...describeRepairs(repairs),
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
        drifted: !settled || repairs.length > 0,
        newCluster: observed.length === 0,
        lines,
    };
}

/** The docker CLI on the node's own engine. */
const docker = async (node: { dockerHost?: string }, ...args: string[]) =>
    (await dockerOn(node.dockerHost, args)).stdout.trim();
const volumeExists = (node: ClusterNode) =>
    docker(node, "volume", "inspect", node.volume).then(
        () => true,
        () => false,
    );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Why a one-shot failed: the last few error lines of its stderr, not a whole server log. */
const whyFailed = (text: string, count = 4) => {
    const lines = text.trim().split("\n");
    const errors = lines.filter((l) => /error|detail|PANIC|FATAL/.test(l));
    return (errors.length > 0 ? errors : lines).slice(-count).join("\n");
};

/** Whether a standby streams from that upstream, on the upstream's timeline. */
export function streamsFrom(node: NodeObservation, upstream: NodeObservation): boolean {
    return (
        node.receiverStatus === "streaming" &&
        node.upstreamHost === upstream.name &&
        upstream.timeline !== undefined &&
        node.timeline === upstream.timeline
    );
}

/**
 * Whether a node has a data directory, its container says (`answer`: "data", "none", or
 * "" when it could not be asked), not its log: its entrypoint said so only when it
 * started, maybe long before the part of the log read, and a "waiting for a data
 * directory" there may be of a wait that a bootstrap ended since (a node made seconds
 * ago). A node is never re-cloned on its log alone.
 */
export function withDataDirectory(why: StreamingFailure, answer: string): StreamingFailure {
    if (answer === "none") return why === "unknown" ? "no-data" : why;
    return why === "no-data" ? "unknown" : why;
}

/** What a standby that does not stream says about why, in its own log since it started. */
export type StreamingFailure = "wal-gone" | "diverged" | "no-data" | "unknown";
export function whyNotStreaming(log: string): StreamingFailure {
    // pgtopo-run on a volume without a data directory: it waits for a bootstrap.
    if (/holds no data directory: waiting for 'pulumi up'|still waiting for a data directory/.test(log))
        return "no-data";
    if (/requested WAL segment \S+ has already been removed|could not receive data from WAL stream.*removed/.test(log))
        return "wal-gone";
    const diverged = [
        /is not a child of this server's history/,
        /does not contain minimum recovery point/,
        /forked off current database system timeline/,
        /could not receive timeline history file/,
        /highest timeline \d+ of the primary is behind recovery timeline/,
    ];
    if (diverged.some((pattern) => pattern.test(log))) return "diverged";
    return "unknown";
}

/**
 * Makes the cluster what the config says, from whatever it finds: the configured node the
 * only primary (switchover or failover when it is another), then every other node, in the
 * order of the planned tree, a standby of its upstream through its slot. Each step first
 * looks at what is there, so running this again after an interruption (or after success)
 * continues from where things are instead of repeating work.
 */
export async function convergeCluster(
    request: ConvergeRequest,
    superuserPassword: string,
    log: Log,
): Promise<{ transition: Transition; repairs: Repair[] }> {
    const byName = new Map(request.nodes.map((n) => [n.name, n]));
    const endpoints = endpointsOf(request, superuserPassword);
    const target = byName.get(request.target)!;
    const observe = (node: ClusterNode) => observeNode(endpoints.find((e) => e.name === node.name)!);

    /** SQL as postgres over the node's socket (peer), for the few statements that change things. */
    const sql = (node: ClusterNode, text: string) =>
        docker(node, "exec", "-u", "postgres", node.container, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", text); // prettier-ignore

    /**
     * A one-shot container on a node's volume, on the cluster network; secrets via the
     * environment (names only here: docker copies the values from this process). Named
     * after the node, so that one left behind by a killed run (created but never
     * started, it would hold the volume) is removed by the next.
     */
    const oneShot = async (node: ClusterNode, script: string, args: string[] = [], env: string[] = []) => {
        const name = `${node.container}-oneshot`;
        await docker(node, "rm", "-f", name).catch(() => undefined);
        return docker(
            node,
            "run", "--rm", "--name", name, "--label", request.stackLabel, "--network", request.network,
            "-v", `${node.volume}:${PATHS.volume}`,
            "-e", `PGTOPO_NODE=${node.name}`, "-e", "PGTOPO_SUPERUSER_PASSWORD",
            ...env.flatMap((e) => ["-e", e]),
            "--entrypoint", script, request.image, ...args,
        ); // prettier-ignore
    };

    const waitUntil = async (what: string, seconds: number, check: () => Promise<boolean>): Promise<boolean> => {
        for (const end = Date.now() + seconds * 1000; Date.now() < end; await sleep(200)) {
            if (await check().catch(() => false)) return true;
        }
        log(`${what}: not within ${seconds}s`);
        return false;
    };

    const acceptsConnections = (node: ClusterNode) =>
        waitUntil(`${node.name} accepting connections`, 120, async () => (await observe(node)).reachable);

    const running = (node: ClusterNode) =>
        docker(node, "container", "inspect", "-f", "{{.State.Running}}", node.container).catch(() => "missing");

    const stop = async (node: ClusterNode) => {
        if (node.gone) {
            log(
                `${node.name} is on a host marked gone: not fenced (it cannot be reached); it rejoins once the host is back`,
            );
            return false;
        }
        const state = await running(node);
        if (state === "true") {
            log(`fencing ${node.name}: stopping it cleanly`);
            await docker(node, "stop", "-t", "60", node.container);
        }
        return state !== "missing";
    };

    const missingContainer = (node: ClusterNode) =>
        new Error(
            `container ${node.container} does not exist (removed outside pgtopo, and not yet recreated); ` +
                `run 'pulumi up' again to recreate it on its volume`,
        );

    const createSlot = (upstream: ClusterNode, slot: string) => docker(upstream, "exec", upstream.container, "pgtopo-slot", "create", slot); // prettier-ignore
    const dropSlot = (on: ClusterNode, slot: string) => docker(on, "exec", on.container, "pgtopo-slot", "drop", slot);

    /** Only says what happened: nothing can be started or waited for without a container. */
    const reportNoContainer = (node: ClusterNode, upstream: ClusterNode, how: string) =>
        log(
            `${node.name} has no container; its data is now a standby's of ${upstream.name} (${how}), ` +
                `so it streams from there once the next 'pulumi up' recreates the container`,
        );

    /**
     * A node that cannot stream with the data it has, cloned afresh from its upstream
     * through its slot. Data that may hold writes that exist nowhere else (a node that was
     * a primary, or went past the fork) is set aside in its volume, never deleted; a
     * standby's copy of what its upstream has is simply replaced.
     */
    const reclone = async (node: ClusterNode, upstream: ClusterNode, keep: boolean, hasContainer = true) => {
        log(
            keep
                ? `${node.name} cannot rejoin ${upstream.name} with its own data: cloning it afresh`
                : `${node.name} cannot stream from ${upstream.name} with the data it has: cloning it afresh`,
        );
        if (hasContainer) await docker(node, "stop", "-t", "60", node.container);
        if (keep) {
            const kept = await oneShot(node, "pgtopo-set-aside");
            if (kept)
                log(`${node.name}'s diverged data is kept at ${kept} in volume ${node.volume}; remove it when done`);
        } else {
            await oneShot(node, "pgtopo-set-aside", ["discard"]);
        }
        // pgtopo-clone makes the standby's slot on its upstream first, if it is missing.
        const cloneEnv = [
            `PGTOPO_UPSTREAM=${upstream.endpoint}`,
            `PGTOPO_SLOT=${node.slot}`,
            "PGTOPO_REPLICATION_PASSWORD",
        ];
        log(await oneShot(node, "pgtopo-clone", [], cloneEnv));
        if (!hasContainer) return reportNoContainer(node, upstream, "re-cloned");
        const since = new Date().toISOString();
        await docker(node, "start", node.container);
        const { why, lastLog } = await streamOrSayWhy(node, 60, since);
        if (why !== "streaming") {
            throw new Error(
                `${node.name} was re-cloned from ${upstream.name} but does not stream from it:\n${whyFailed(lastLog, 8)}`,
            );
        }
        log(`${node.name} rejoined as a standby of ${upstream.name}, re-cloned`);
    };

    /**
     * Stopped node -> standby of its planned upstream. pg_rewind decides whether its WAL
     * went past the fork and rewinds it if so, keeping the WAL it discards aside in the
     * volume; when it cannot (WAL gone, unrelated history) or the node still does not
     * stream, the data directory is set aside (never deleted) and the node is cloned
     * afresh. All of it works on the volume, so a node whose container was removed is
     * fenced all the same: whenever its container is recreated, it starts as a standby.
     */
    const rejoin = async (node: ClusterNode) => {
        const upstream = byName.get(node.upstream!)!;
        const hasContainer = await stop(node);
        // `docker run -v` would create a missing volume: look first.
        if (!(await volumeExists(node))) {
            log(`${node.name} has no volume ${node.volume}: no data that could come back as a primary`);
            return;
        }
        await createSlot(upstream, node.slot!);
        const rewind = await oneShot(node, "pgtopo-rewind", [target.endpoint, upstream.endpoint, node.slot!]).then(
            (out) => ({ ok: true, needed: true, out }),
            (err: { code?: number; stdout?: string; stderr?: string; message: string }) =>
                err.code === EXIT.noRewindNeeded
                    ? { ok: true, needed: false, out: (err.stdout ?? "").trim() }
                    : { ok: false, needed: true, out: whyFailed(err.stderr ?? err.message) },
        );
        log(rewind.out);
        if (rewind.ok) {
            const how = rewind.needed ? "after pg_rewind" : "without a rewind";
            if (!hasContainer) return reportNoContainer(node, upstream, how);
            const since = new Date().toISOString();
            await docker(node, "start", node.container);
            const { why } = await streamOrSayWhy(node, 30, since);
            if (why === "streaming") {
                log(`${node.name} rejoined as a standby of ${upstream.name} ${how}`);
                return;
            }
        }
        await reclone(node, upstream, true, hasContainer);
    };

    /**
     * Waits for a standby to stream from its upstream while reading its log since `since`,
     * every 0.2 s: a node that can never stream as it is (its WAL gone from the upstream,
     * or past the upstream's fork) says so at once, instead of after a fixed wait.
     */
    const streamOrSayWhy = async (node: ClusterNode, seconds: number, since: string) => {
        const upstream = byName.get(node.upstream!)!;
        let why = "unknown" as StreamingFailure | "streaming";
        let lastLog = "";
        // Asked until it answers, then no more: nothing gives a waiting node a data
        // directory while this waits.
        let hasData = "";
        await waitUntil(`${node.name} streaming from ${upstream.name}`, seconds, async () => {
            const [o, up] = await Promise.all([observe(node), observe(upstream)]);
            // On the upstream's timeline too: a node past the fork streams the old timeline
            // for a moment, up to the switch, before it finds it cannot follow.
            if (streamsFrom(o, up)) {
                why = "streaming";
                return true;
            }
            const { stdout, stderr } = await dockerOn(node.dockerHost, ["logs", "--since", since, node.container]);
            lastLog = `${stdout}\n${stderr}`;
            why = whyNotStreaming(lastLog);
            if (why === "unknown" || why === "no-data") {
                hasData ||= await dataDirectory(node);
                why = withDataDirectory(why, hasData);
            }
            return why !== "unknown";
        });
        return { why, lastLog };
    };

    /** In a running container: "data" or "none" (pgtopo-run then waits); "" when it cannot be asked. */
    const dataDirectory = (node: ClusterNode) =>
        docker(node, "exec", node.container, "sh", "-c", 'if [ -s "$PGDATA/PG_VERSION" ]; then echo data; else echo none; fi') // prettier-ignore
            .catch(() => "");

    /** A standby that should stream: rewound or re-cloned when its log says it cannot as it is. */
    const untilStreaming = async (node: ClusterNode, seconds: number, since: string) => {
        const upstream = byName.get(node.upstream!)!;
        const { why, lastLog } = await streamOrSayWhy(node, seconds, since);
        if (why === "streaming") return;
        if (why === "wal-gone") {
            log(`${node.name}: ${upstream.name} no longer has the WAL it needs`);
            await dropSlot(upstream, node.slot!);
            return reclone(node, upstream, false);
        }
        if (why === "diverged") {
            log(`${node.name}: its WAL went past the point where ${upstream.name}'s timeline forked`);
            return rejoin(node);
        }
        if (why === "no-data") {
            // A standby's copy holds nothing its upstream lacks: a new one is all it needs.
            log(`${node.name}: its volume holds no data directory (lost outside pgtopo); it waits for one`);
            return reclone(node, upstream, false);
        }
        throw new Error(
            `${node.name} does not stream from ${upstream.name}; its last log lines:\n${whyFailed(lastLog, 8)}`,
        );
    };

    const repair = async (node: ClusterNode, r: Repair) => {
        const upstream = node.upstream ? byName.get(node.upstream) : undefined;
        switch (r.action) {
            case "create-slot": {
                const on = byName.get(r.on!)!;
                if (r.replace) await dropSlot(on, r.slot!);
                await createSlot(on, r.slot!);
                return log(`slot ${r.slot} present on ${on.name}`);
            }
            case "start": {
                const state = await running(node);
                if (state === "missing") throw missingContainer(node);
                const since = new Date().toISOString();
                if (state !== "true") await docker(node, "start", node.container);
                await untilStreaming(node, 60, since);
                return log(`${node.name} started; it streams from ${upstream!.name}`);
            }
            case "rejoin":
                return rejoin(node);
            case "reclone":
                return reclone(node, upstream!, false);
            case "repoint": {
                const since = new Date().toISOString();
                log(
                    await docker(
                        node,
                        "exec",
                        node.container,
                        "pgtopo-follow",
                        upstream!.endpoint,
                        node.slot!,
                        "--no-wait",
                    ),
                );
                return untilStreaming(node, 60, since);
            }
            case "check-streaming":
                // It has been failing for a while if at all: what it said lately tells why.
                return untilStreaming(node, 60, "20s");
            case "drop-slot":
                await dropSlot(byName.get(r.on!)!, r.slot!);
                return log(`slot ${r.slot} dropped from ${r.on}`);
        }
    };

    const promote = async (node: ClusterNode) => {
        log(`promoting ${node.name}`);
        const ok = await sql(node, "SELECT pg_promote(wait => true, wait_seconds => 60)");
        if (ok !== "t") throw new Error(`${node.name} did not finish promotion within 60s`);
        // Until its first checkpoint, a new primary's control file still names the old
        // timeline, and pg_rewind (which reads it) would rewind onto the wrong one.
        await sql(node, "CHECKPOINT");
        log(`${node.name} is the primary`);
    };

    // 1. The configured primary runs: a stopped one (killed, stopped by hand) is started first.
    let observed = await observeCluster(endpoints);
    const first = planConvergence(request, observed);
    if (first.startPrimary) {
        log(`${target.name}: the primary's container is stopped: starting it`);
        await docker(target, "start", target.container);
        await acceptsConnections(target);
        observed = await observeCluster(endpoints);
    }

    // 2. Who is primary: a switchover or a failover when it is another node.
    const transition = planTransition(request.target, observed, { maxLagOnFailover: request.maxLagOnFailover });
    log(describeTransition(transition));
    switch (transition.kind) {
        case "refused":
            throw new Error(transition.reason);
        case "none":
            break;
        case "switchover": {
            const from = byName.get(transition.from)!;
            // The target must be receiving WAL before the old primary stops, or it can never
            // get the last of it (a standby reconnects up to 5 s after its upstream restarted).
            const receiving = await waitUntil(
                `${target.name} streaming`,
                30,
                async () => (await observe(target)).receiverStatus === "streaming",
            );
            if (!receiving) {
                throw new Error(
                    `switchover refused: ${target.name} does not stream, so it could not receive ${from.name}'s last WAL; nothing was changed`,
                );
            }
            await stop(from);
            const finalLsn = await oneShot(from, "pgtopo-checkpoint-lsn");
            log(`${from.name} stopped at ${finalLsn}; waiting for ${target.name} to receive it`);
            const caughtUp = await waitUntil(`${target.name} receiving ${finalLsn}`, 60, async () => {
                const o = await observe(target);
                return !!o.walLsn && lsnToBytes(o.walLsn) > lsnToBytes(finalLsn);
            });
            if (!caughtUp) {
                // Give the cluster its primary back rather than lose the tail of its WAL.
                await docker(from, "start", from.container);
                throw new Error(
                    `switchover aborted: ${target.name} did not receive ${from.name}'s last WAL (${finalLsn}); ${from.name} was restarted as primary and nothing else changed`,
                );
            }
            await promote(target);
            break;
        }
        case "failover":
            for (const name of transition.fence) await stop(byName.get(name)!);
            await promote(target);
            break;
    }

    // 3. Every other node, upstreams first, each observed just before it is repaired: by
    //    then its upstream already follows the primary, so no fixed wait and no re-clone
    //    where a rewind or a plain restart is enough, at any depth of cascade.
    const done: Repair[] = [];
    // While this run has changed nothing (the healthy case, every new cluster's), the first
    // look still stands: no node is asked again (a query per node, not three).
    const changedNothing = () =>
        !first.startPrimary && transition.kind === "none" && transition.fence.length === 0 && done.length === 0;
    const firstLook = (node: ClusterNode) => observed.find((o) => o.name === node.name)!;
    const look = (node: ClusterNode) => (changedNothing() ? Promise.resolve(firstLook(node)) : observe(node));
    const primaryNow = await look(target);
    for (const node of request.nodes) {
        if (node.name === target.name || !node.upstream || node.gone) continue;
        const upstream = byName.get(node.upstream)!;
        const [self, up] = await Promise.all([look(node), look(upstream)]);
        const repairs = planRepairs(
            target.name,
            [node],
            [primaryNow, self, up],
            transition.fence.includes(node.name) ? [node.name] : [],
        ).filter((r) => r.action !== "drop-slot");
        for (const r of repairs) {
            log(describeRepairs([r])[0]);
            await repair(node, r);
            done.push(r);
        }
    }

    // 4. Slots nobody in the config consumes any more.
    if (!changedNothing()) observed = await observeCluster(endpoints);
    for (const r of planRepairs(target.name, request.nodes, observed).filter((r) => r.action === "drop-slot")) {
        log(describeRepairs([r])[0]);
        await repair(byName.get(r.node)!, r);
        done.push(r);
    }
    if (done.length === 0 && transition.kind === "none" && transition.fence.length === 0) {
        log("every node is as configured; nothing to repair");
    }
    return { transition, repairs: done };
}

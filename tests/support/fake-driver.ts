import { ENV, EXIT, SCRIPTS } from "../../contract/image";
import type { ContainerState, NodeDriver } from "../../ops/driver";
import { ScriptFailure } from "../../ops/driver";
import type { Clock } from "../../ops/converge";
import type { RouterDriver } from "../../ops/routers";
import { targetText, type RouterPlan, type RouterTargets } from "../../planning/routers";
import { lsnToBytes } from "../../planning/lsn";
import type { NodeObservation, TimelineSwitch } from "../../planning/observation";
import type { PlannedNode } from "../../planning/topology";

/** One simulated node: its container, and what its data directory says. */
export interface FakeNode {
    container: ContainerState;
    volume: boolean;
    /** Its volume holds a data directory. */
    data: boolean;
    /** Its data is a primary's (no standby.signal). */
    primary: boolean;
    timeline: number;
    /** Where its WAL ends, in bytes. */
    lsn: bigint;
    /** A standby's primary_conninfo host and primary_slot_name. */
    upstream?: string;
    slot?: string;
    /** Slots on this node; a lost one's WAL is gone. */
    slots: Map<string, { lost: boolean }>;
    /** The oldest WAL segment it still holds, when that matters to a test. */
    oldestWal?: string;
    /** Where its last clean shutdown's checkpoint record begins (pg_controldata's "Latest checkpoint location"). */
    checkpoint?: bigint;
}

/** What a test makes the fake cluster do that a healthy one would not. */
export interface FakeKnobs {
    /** These nodes never stream, whatever happens. */
    neverStream: Set<string>;
    /** pg_rewind fails on these nodes (WAL gone, unrelated history). */
    rewindFails: Set<string>;
    /** After the fence, the switchover's target never receives the old primary's last WAL. */
    targetStopsStreaming: boolean;
}

/** An action the converge step took on a node: what the tests assert, in order. */
export type Action = string;

const fmt = (lsn: bigint) =>
    `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
export const lsn = (text: string) => lsnToBytes(text);

/**
 * A small model of a replication cluster behind the NodeDriver interface, for the converge
 * step's unit tests: promotions make timelines with their history, a standby streams from
 * its upstream when its slot is there and its WAL has not gone past the upstream's fork
 * (it then catches up at once), pg_rewind and pg_basebackup do what they do to a data
 * directory. Every action is recorded in `actions` ("stop pg-1", "promote pg-2", ...).
 * Time is a fake clock that never waits.
 */
export class FakeCluster {
    readonly actions: Action[] = [];
    readonly knobs: FakeKnobs = { neverStream: new Set(), rewindFails: new Set(), targetStopsStreaming: false };
    readonly routers = new FakeRouters(this);
    /** timeline -> the timeline it forked from and where. */
    private readonly forks = new Map<number, { parent: number; at: bigint }>();
    private time = 0;

    constructor(readonly nodes: Map<string, FakeNode>) {}

    /** A healthy cluster: `primary` on timeline 1, every other node a standby of its upstream, all at `at`. */
    static of(primary: string, upstreams: Record<string, string>, at = lsn("0/5000000")): FakeCluster {
        const nodes = new Map<string, FakeNode>();
        const make = (upstream?: string): FakeNode => ({
            container: "running",
            volume: true,
            data: true,
            primary: upstream === undefined,
            timeline: 1,
            lsn: at,
            upstream,
            slots: new Map(),
        });
        nodes.set(primary, make());
        for (const [name, upstream] of Object.entries(upstreams)) {
            nodes.set(name, { ...make(upstream), slot: slotOf(name) });
        }
        for (const [name, upstream] of Object.entries(upstreams))
            nodes.get(upstream)!.slots.set(slotOf(name), { lost: false });
        return new FakeCluster(nodes);
    }

    node(name: string): FakeNode {
        return this.nodes.get(name)!;
    }

    readonly clock: Clock = {
        now: () => this.time,
        sleep: async (ms) => {
            this.time += ms;
        },
    };

    /** The history of a timeline: each ancestor, with where the next one forked off it. */
    history(timeline: number): TimelineSwitch[] {
        const chain: TimelineSwitch[] = [];
        for (let t = timeline; this.forks.has(t); ) {
            const { parent, at } = this.forks.get(t)!;
            chain.unshift({ timeline: parent, switchpoint: fmt(at) });
            t = parent;
        }
        return chain;
    }

    /**
     * What a standby's PostgreSQL would have logged (and pgtopo-log-watch kept) when it
     * cannot stream: its WAL went past the upstream's fork ("diverged"), or the upstream
     * no longer has the WAL it asks for ("wal-gone"); nothing otherwise.
     */
    reported(name: string): "diverged" | "wal-gone" | undefined {
        const n = this.node(name);
        const up = n.upstream ? this.nodes.get(n.upstream) : undefined;
        if (!up || n.primary || !n.data || up.container !== "running" || !up.data) return undefined;
        if (n.timeline !== up.timeline) {
            const left = this.history(up.timeline).find((h) => h.timeline === n.timeline);
            if (!left || n.lsn > lsn(left.switchpoint)) return "diverged";
        }
        if (up.oldestWal && n.lsn / (16n << 20n) < BigInt(`0x${up.oldestWal.slice(16)}`)) return "wal-gone";
        return undefined;
    }

    /** Whether a standby can stream from its upstream now, and if so it catches up. */
    private stream(name: string): boolean {
        const n = this.node(name);
        const up = n.upstream ? this.nodes.get(n.upstream) : undefined;
        if (!up || n.primary || !n.data || n.container !== "running" || this.knobs.neverStream.has(name)) return false;
        if (up.container !== "running" || !up.data || !n.slot || up.slots.get(n.slot)?.lost !== false) return false;
        if (n.timeline !== up.timeline) {
            const left = this.history(up.timeline).find((h) => h.timeline === n.timeline);
            if (!left || n.lsn > lsn(left.switchpoint)) return false;
        }
        if (up.oldestWal && n.lsn / (16n << 20n) < BigInt(`0x${up.oldestWal.slice(16)}`)) return false;
        n.timeline = up.timeline;
        if (up.lsn > n.lsn) n.lsn = up.lsn;
        return true;
    }

    /** The driver the converge step is given. `planned`: the request's nodes (for gone hosts). */
    driver(planned: readonly PlannedNode[]): NodeDriver {
        const act = (text: string) => this.actions.push(text);
        const running = (node: PlannedNode) => {
            const n = this.node(node.name);
            if (n.container !== "running")
                throw new ScriptFailure(1, "", `container ${node.container} is not running`, "not running");
            return n;
        };
        const nameOf = (endpoint: string) => endpoint.split(":")[0];
        return {
            observe: async (node) => {
                const n = this.node(node.name);
                const base = { name: node.name, slots: [], replicas: [] };
                if (planned.find((p) => p.name === node.name)?.gone) {
                    return {
                        ...base,
                        container: "running",
                        reachable: false,
                        error: "not asked: its host is marked gone",
                    };
                }
                if (n.container !== "running") {
                    return { ...base, container: n.container, reachable: false, error: `container ${n.container}`, dataIsStandby: !n.primary }; // prettier-ignore
                }
                if (!n.data) return { ...base, container: "running", reachable: false, error: "no data directory" };
                const streaming = this.stream(node.name);
                const replicas = [...this.nodes].filter(([other, o]) => o.upstream === node.name && this.stream(other));
                return {
                    ...base,
                    container: "running",
                    reachable: true,
                    inRecovery: !n.primary,
                    timeline: n.timeline,
                    walLsn: fmt(n.lsn),
                    replayLsn: n.primary ? undefined : fmt(n.lsn),
                    receiverStatus: streaming ? "streaming" : undefined,
                    upstreamHost: streaming ? n.upstream : undefined,
                    conninfoHost: n.primary ? undefined : n.upstream,
                    slotSetting: n.primary ? undefined : n.slot,
                    slots: [...n.slots].map(([name, s]) => ({
                        name,
                        active: replicas.some(([, o]) => o.slot === name),
                        walStatus: s.lost ? "lost" : "reserved",
                    })),
                    replicas: replicas.map(([name]) => ({
                        name,
                        state: "streaming",
                        replayLagSeconds: 0,
                        syncState: "async",
                    })),
                    history: this.history(n.timeline),
                    oldestWal: n.oldestWal,
                } satisfies NodeObservation;
            },
            container: async (node) => this.node(node.name).container,
            hasVolume: async (node) => this.node(node.name).volume,
            state: async (node) => {
                const n = this.node(node.name);
                return n.container === "running" ? { hasData: n.data, reported: this.reported(node.name) } : {};
            },
            sql: async (node, text) => {
                const n = running(node);
                if (text.startsWith("SELECT pg_promote")) {
                    act(`promote ${node.name}`);
                    const timeline = Math.max(...[...this.nodes.values()].map((o) => o.timeline)) + 1;
                    this.forks.set(timeline, { parent: n.timeline, at: n.lsn });
                    Object.assign(n, { primary: true, timeline, upstream: undefined, slot: undefined });
                    n.lsn += 0x100n;
                    return "t";
                }
                if (text === "CHECKPOINT") {
                    act(`checkpoint ${node.name}`);
                    return "";
                }
                throw new Error(`the fake cluster does not know this SQL: ${text}`);
            },
            run: async (node, script, args) => {
                const n = running(node);
                act(`${script} ${args.join(" ")} on ${node.name}`);
                if (script === SCRIPTS.slot && args[0] === "create") {
                    if (!n.slots.has(args[1])) n.slots.set(args[1], { lost: false });
                    return `slot ${args[1]} present`;
                }
                if (script === SCRIPTS.slot && args[0] === "drop") {
                    n.slots.delete(args[1]);
                    return `slot ${args[1]} absent`;
                }
                if (script === SCRIPTS.follow) {
                    Object.assign(n, { upstream: nameOf(args[0]), slot: args[1] });
                    return `re-pointing to ${args[0]} through slot ${args[1]}`;
                }
                throw new Error(`the fake cluster does not run ${script}`);
            },
            oneShot: async (node, script, args = [], env = []) => {
                const n = this.node(node.name);
                act(`${script}${args.length > 0 ? ` ${args.join(" ")}` : ""} in a one-shot on ${node.name}`);
                if (n.container === "running") throw new Error(`a one-shot on the volume of running ${node.name}`);
                const setting = (name: string) => env.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
                switch (script) {
                    case SCRIPTS.checkpointLsn:
                        return fmt(n.checkpoint ?? n.lsn);
                    case SCRIPTS.rewind: {
                        if (this.knobs.rewindFails.has(node.name)) {
                            throw new ScriptFailure(
                                1,
                                "",
                                "pg_rewind: fatal: could not find previous WAL record",
                                "exit 1",
                            );
                        }
                        const source = this.node(nameOf(args[0]));
                        const left = this.history(source.timeline).find((h) => h.timeline === n.timeline);
                        const needed = n.timeline !== source.timeline && (!left || n.lsn > lsn(left.switchpoint));
                        Object.assign(n, { primary: false, upstream: nameOf(args[1]), slot: args[2] });
                        if (!needed) throw new ScriptFailure(EXIT.noRewindNeeded, `no rewind needed`, "", "exit 10");
                        Object.assign(n, { timeline: source.timeline, lsn: left ? lsn(left.switchpoint) : 0n });
                        return `rewound onto ${args[0]}'s timeline`;
                    }
                    case SCRIPTS.setAside:
                        n.data = false;
                        return args[0] === "discard" ? "" : `/var/lib/postgresql/data/pgdata.diverged-T${this.time}`;
                    case SCRIPTS.clone: {
                        const upstream = this.node(nameOf(setting(ENV.upstream)!));
                        const slot = setting(ENV.slot)!;
                        if (!upstream.slots.has(slot)) upstream.slots.set(slot, { lost: false });
                        Object.assign(n, {
                            data: true,
                            primary: false,
                            upstream: nameOf(setting(ENV.upstream)!),
                            slot,
                        });
                        Object.assign(n, { timeline: upstream.timeline, lsn: upstream.lsn });
                        return `standby cloned from ${setting(ENV.upstream)}`;
                    }
                }
                throw new Error(`the fake cluster does not run ${script}`);
            },
            start: async (node) => {
                act(`start ${node.name}`);
                const n = this.node(node.name);
                if (n.container === "missing") throw new ScriptFailure(1, "", "No such container", "exit 1");
                n.container = "running";
            },
            stop: async (node, graceSeconds) => {
                act(`stop ${node.name} (${graceSeconds}s)`);
                const n = this.node(node.name);
                if (n.container !== "running") return;
                // A clean shutdown writes a checkpoint record and sends it to the standbys that
                // stream (unless the test says the switchover's target stopped streaming).
                const streaming = [...this.nodes.keys()].filter((other) => this.node(other).upstream === node.name && this.stream(other)); // prettier-ignore
                n.checkpoint = n.lsn;
                n.lsn += 0x80n;
                n.container = "stopped";
                if (this.knobs.targetStopsStreaming) return;
                for (const other of streaming) this.node(other).lsn = n.lsn;
            },
            logsSince: async () => "",
        };
    }
}

/** pgtopo's slot of a node (planning/topology.ts slotNameFor). */
const slotOf = (name: string) => `pgtopo_${name.replace(/-/g, "_")}`;

/** One simulated router: its container, whether each listener is paused, where it points. */
export interface FakeRouter {
    container: "running" | "stopped" | "missing";
    paused: { rw: boolean; ro: boolean };
    targets?: RouterTargets;
    /** A transaction in flight that does not finish: a pause times out. */
    longTransaction: boolean;
}

/** The routers of a FakeCluster behind RouterDriver; their actions go into the cluster's list. */
export class FakeRouters {
    readonly routers = new Map<string, FakeRouter>();

    constructor(private readonly cluster: FakeCluster) {}

    /** A running router per name, pointed at `targets` (or nowhere). */
    add(name: string, targets?: RouterTargets): FakeRouter {
        const router: FakeRouter = {
            container: "running",
            paused: { rw: false, ro: false },
            targets,
            longTransaction: false,
        };
        this.routers.set(name, router);
        return router;
    }

    driver(): RouterDriver {
        const act = (text: string) => this.cluster.actions.push(text);
        const get = (router: RouterPlan) => this.routers.get(router.name)!;
        return {
            observe: async (router) => {
                const r = get(router);
                const listener = (l: "rw" | "ro") =>
                    r.container === "running"
                        ? {
                              paused: r.paused[l],
                              target: r.targets ? targetText(r.targets, l) : undefined,
                              clients: 0,
                              servers: 0,
                          }
                        : undefined;
                return {
                    name: router.name,
                    container: r.container,
                    listeners: r.container === "running" ? { rw: listener("rw"), ro: listener("ro") } : {},
                };
            },
            pause: async (router, listeners, seconds) => {
                act(`pause ${listeners.join("+")} of ${router.name} (${seconds}s)`);
                const r = get(router);
                if (r.longTransaction) return "timed out";
                for (const l of listeners) r.paused[l] = true;
                return "paused";
            },
            resume: async (router) => {
                act(`resume ${router.name}`);
                get(router).paused = { rw: false, ro: false };
            },
            point: async (router, targets) => {
                act(`point ${router.name}: rw ${targets.rw}, ro ${targets.ro.join(",")}`);
                get(router).targets = targets;
            },
            start: async (router) => {
                act(`start ${router.name}`);
                get(router).container = "running";
            },
        };
    }
}

import { describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../config";
import { convergeCluster } from "../../ops/converge";
import { convergeRequest } from "../../planning/convergence";
import { planTopology } from "../../planning/topology";
import { FakeCluster, lsn } from "../support/fake-driver";

/**
 * Issue 20: the converge step's protocols (switchover, failover, rejoin by rewind or by
 * re-clone, every repair, an interrupted run finished), driven against a fake cluster
 * (tests/support/fake-driver.ts) behind the same NodeDriver interface as Docker's. Each
 * asserts the exact actions taken, in order; the integration suites run the same code on
 * real Docker and PostgreSQL.
 */
const ports = { "pg-1": 20001, "pg-2": 20002, "pg-3": 20003, "pg-4": 20004 } as const;
type Name = keyof typeof ports;

async function converge(
    cluster: FakeCluster,
    primary: Name,
    upstreams: Partial<Record<Name, Name>> = {},
    more: Record<string, unknown> = {},
) {
    const config = parseClusterConfig({
        ...more,
        primary,
        nodes: [...cluster.nodes.keys()].map((name) => ({
            name,
            port: ports[name as Name],
            ...(upstreams[name as Name] ? { upstream: upstreams[name as Name] } : {}),
        })),
    });
    const request = convergeRequest("unit", config, planTopology(config, "unit"));
    const lines: string[] = [];
    const result = await convergeCluster({
        request,
        driver: cluster.driver(request.nodes),
        routers: cluster.routers.driver(),
        log: (line) => lines.push(line),
        clock: cluster.clock,
    }).catch((err: Error) => err);
    return { result, lines, actions: cluster.actions };
}

describe("the converge step against a fake cluster", () => {
    it("does nothing to a cluster that runs as configured", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1", "pg-3": "pg-2" });
        const { actions, lines } = await converge(cluster, "pg-1", { "pg-3": "pg-2" });
        expect(actions).toEqual([]);
        expect(lines).toEqual(["pg-1 stays primary", "every node is as configured; nothing to repair"]);
    });

    it("switches over: fences the old primary, promotes the target once it has the last WAL, rejoins and re-points in tree order", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1", "pg-3": "pg-1" });
        const { result, actions } = await converge(cluster, "pg-2", { "pg-3": "pg-2" });
        expect(result).not.toBeInstanceOf(Error);
        expect(actions).toEqual([
            "stop pg-1 (60s)",
            "pgtopo-checkpoint-lsn in a one-shot on pg-1",
            "promote pg-2",
            "checkpoint pg-2",
            // pg-1 first (its slot, then its rejoin, which makes sure of the slot again): no
            // rewind is needed after a clean switchover, and it is started as a standby.
            "pgtopo-slot create pgtopo_pg_1 on pg-2",
            "pgtopo-slot create pgtopo_pg_1 on pg-2",
            "pgtopo-rewind pg-2 pg-2 pgtopo_pg_1 in a one-shot on pg-1",
            "start pg-1",
            "pgtopo-slot create pgtopo_pg_3 on pg-2",
            "pgtopo-follow pg-2 pgtopo_pg_3 --no-wait on pg-3",
            "pgtopo-slot drop pgtopo_pg_2 on pg-1",
            "pgtopo-slot drop pgtopo_pg_3 on pg-1",
        ]);
        expect(cluster.node("pg-2").primary).toBe(true);
        expect(cluster.node("pg-1")).toMatchObject({ primary: false, upstream: "pg-2", container: "running" });
    });

    it("aborts a switchover whose target stops streaming mid-way: the old primary is started again, nothing else changes", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        cluster.knobs.targetStopsStreaming = true;
        const { result, actions } = await converge(cluster, "pg-2");
        expect(actions).toEqual(["stop pg-1 (60s)", "pgtopo-checkpoint-lsn in a one-shot on pg-1", "start pg-1"]);
        expect((result as Error).message).toBe(
            "switchover aborted: pg-2 did not receive pg-1's last WAL (0/5000000); pg-1 was restarted as primary and nothing else changed",
        );
        expect(cluster.node("pg-1").primary).toBe(true);
        expect(cluster.node("pg-2").primary).toBe(false);
    });

    it("refuses a switchover to a target that does not stream, before touching anything", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        cluster.knobs.neverStream.add("pg-2");
        const { result, actions } = await converge(cluster, "pg-2");
        expect(actions).toEqual([]);
        expect((result as Error).message).toBe(
            "switchover refused: pg-2 does not stream, so it could not receive pg-1's last WAL; nothing was changed",
        );
    });

    it("fails over from a killed primary: promotes the target, then rewinds the old primary and re-points the rest", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1", "pg-3": "pg-1" });
        // pg-1 is killed after a last write pg-2 and pg-3 never got; pg-3 is level with pg-2.
        cluster.node("pg-1").container = "stopped";
        cluster.node("pg-1").lsn = lsn("0/5000800");
        const { result, actions } = await converge(cluster, "pg-2", { "pg-3": "pg-2" });
        expect(result).not.toBeInstanceOf(Error);
        expect(actions).toEqual([
            "promote pg-2",
            "checkpoint pg-2",
            "pgtopo-slot create pgtopo_pg_1 on pg-2",
            "pgtopo-slot create pgtopo_pg_1 on pg-2",
            // Its WAL went past the fork: pg_rewind rewinds it (what it discards kept aside).
            "pgtopo-rewind pg-2 pg-2 pgtopo_pg_1 in a one-shot on pg-1",
            "start pg-1",
            "pgtopo-slot create pgtopo_pg_3 on pg-2",
            "pgtopo-follow pg-2 pgtopo_pg_3 --no-wait on pg-3",
            // The old primary's slots, which nobody in the config consumes from it now.
            "pgtopo-slot drop pgtopo_pg_2 on pg-1",
            "pgtopo-slot drop pgtopo_pg_3 on pg-1",
        ]);
        expect(cluster.node("pg-1")).toMatchObject({ primary: false, timeline: 2, upstream: "pg-2" });
    });

    it("refuses a failover to a standby further behind another than maxLagOnFailover, and does nothing", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1", "pg-3": "pg-1" });
        cluster.node("pg-1").container = "stopped";
        cluster.node("pg-3").lsn = lsn("0/5200000"); // 2 MiB ahead of pg-2
        const { result, actions } = await converge(cluster, "pg-2");
        expect(actions).toEqual([]);
        expect((result as Error).message).toMatch(
            /^pgtopo:primary: "pg-2" is 2097152 bytes behind "pg-3"; promoting it would lose the transactions only "pg-3" has/,
        );
    });

    it("finishes an interrupted switchover: the old primary fenced, the target not yet promoted", async () => {
        // The last run stopped pg-1 and was killed before promoting pg-2.
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        cluster.node("pg-1").container = "stopped";
        const { result, actions, lines } = await converge(cluster, "pg-2");
        expect(result).not.toBeInstanceOf(Error);
        expect(lines[0]).toMatch(/^failover: no node accepts writes; pg-2 will be promoted, pg-1 fenced/);
        expect(actions).toEqual([
            "promote pg-2",
            "checkpoint pg-2",
            "pgtopo-slot create pgtopo_pg_1 on pg-2",
            "pgtopo-slot create pgtopo_pg_1 on pg-2",
            "pgtopo-rewind pg-2 pg-2 pgtopo_pg_1 in a one-shot on pg-1",
            "start pg-1",
            "pgtopo-slot drop pgtopo_pg_2 on pg-1",
        ]);
    });

    it("rejoins a standby promoted by hand by pg_rewind, keeping what it discards", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        // pg-2 promoted by hand, and written to since.
        const pg2 = cluster.node("pg-2");
        await cluster.driver([]).sql({ name: "pg-2" } as never, "SELECT pg_promote(wait => true, wait_seconds => 60)");
        cluster.actions.length = 0;
        pg2.lsn += 0x1000n;
        const { result, actions, lines } = await converge(cluster, "pg-1");
        expect(result).not.toBeInstanceOf(Error);
        expect(lines[0]).toBe("pg-1 stays primary; pg-2 will be fenced if running and (re)started as standbys");
        expect(actions).toEqual([
            "stop pg-2 (60s)",
            "pgtopo-slot create pgtopo_pg_2 on pg-1",
            "pgtopo-rewind pg-1 pg-1 pgtopo_pg_2 in a one-shot on pg-2",
            "start pg-2",
        ]);
        expect(lines).toContain("pg-2 rejoined as a standby of pg-1 after pg_rewind");
    });

    it("re-clones, its old data set aside, a node whose rewind fails", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        await cluster.driver([]).sql({ name: "pg-2" } as never, "SELECT pg_promote(wait => true, wait_seconds => 60)");
        cluster.actions.length = 0;
        cluster.knobs.rewindFails.add("pg-2");
        const { result, actions, lines } = await converge(cluster, "pg-1");
        expect(result).not.toBeInstanceOf(Error);
        expect(actions).toEqual([
            "stop pg-2 (60s)",
            "pgtopo-slot create pgtopo_pg_2 on pg-1",
            "pgtopo-rewind pg-1 pg-1 pgtopo_pg_2 in a one-shot on pg-2",
            "stop pg-2 (60s)",
            "pgtopo-set-aside in a one-shot on pg-2",
            "pgtopo-clone in a one-shot on pg-2",
            "start pg-2",
        ]);
        expect(lines).toContain("pg-2 cannot rejoin pg-1 with its own data: cloning it afresh");
        expect(lines).toContain("pg-2 rejoined as a standby of pg-1, re-cloned");
    });
});

describe("the converge step's repairs, against a fake cluster", () => {
    it("starts a stopped standby as it is, and makes a missing slot", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1", "pg-3": "pg-2" });
        cluster.node("pg-3").container = "stopped";
        cluster.node("pg-2").slots.delete("pgtopo_pg_3");
        const { actions, lines } = await converge(cluster, "pg-1", { "pg-3": "pg-2" });
        expect(actions).toEqual(["pgtopo-slot create pgtopo_pg_3 on pg-2", "start pg-3"]);
        expect(lines).toContain("pg-3 started; it streams from pg-2");
    });

    it("re-clones a standby whose slot is lost, without keeping its copy", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        cluster.node("pg-1").slots.set("pgtopo_pg_2", { lost: true });
        const { actions } = await converge(cluster, "pg-1");
        expect(actions).toEqual([
            "pgtopo-slot drop pgtopo_pg_2 on pg-1",
            "pgtopo-slot create pgtopo_pg_2 on pg-1",
            "stop pg-2 (60s)",
            "pgtopo-set-aside discard in a one-shot on pg-2",
            "pgtopo-clone in a one-shot on pg-2",
            "start pg-2",
        ]);
    });

    it("re-points a standby that streams from the wrong node (reload, no restart)", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1", "pg-3": "pg-1" });
        const { actions } = await converge(cluster, "pg-1", { "pg-3": "pg-2" });
        expect(actions).toEqual([
            "pgtopo-slot create pgtopo_pg_3 on pg-2",
            "pgtopo-follow pg-2 pgtopo_pg_3 --no-wait on pg-3",
            "pgtopo-slot drop pgtopo_pg_3 on pg-1",
        ]);
    });

    it("re-clones a standby whose upstream no longer has the WAL it needs (no lost slot to tell)", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        cluster.node("pg-2").lsn = lsn("0/2000000");
        cluster.node("pg-1").oldestWal = "000000010000000000000004";
        const { actions, lines } = await converge(cluster, "pg-1");
        expect(lines).toContain("pg-2: pg-1 no longer has the WAL it needs");
        expect(actions).toEqual([
            "pgtopo-slot drop pgtopo_pg_2 on pg-1",
            "stop pg-2 (60s)",
            "pgtopo-set-aside discard in a one-shot on pg-2",
            "pgtopo-clone in a one-shot on pg-2",
            "start pg-2",
        ]);
    });

    it("rewinds a standby left on an old timeline past the fork", async () => {
        // pg-2 promoted (by a failover done by hand); pg-3 kept pg-1's later WAL on timeline 1.
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1", "pg-3": "pg-1" });
        await cluster.driver([]).sql({ name: "pg-2" } as never, "SELECT pg_promote(wait => true, wait_seconds => 60)");
        cluster.actions.length = 0;
        cluster.nodes.delete("pg-1");
        cluster.node("pg-3").lsn = lsn("0/5000400");
        cluster.node("pg-3").upstream = "pg-2";
        cluster.node("pg-2").slots.set("pgtopo_pg_3", { lost: false });
        const { actions, lines } = await converge(cluster, "pg-2");
        expect(lines).toContain("pg-3: its WAL went past the point where pg-2's timeline forked");
        expect(actions).toEqual([
            "stop pg-3 (60s)",
            "pgtopo-slot create pgtopo_pg_3 on pg-2",
            "pgtopo-rewind pg-2 pg-2 pgtopo_pg_3 in a one-shot on pg-3",
            "start pg-3",
        ]);
    });

    it("re-clones a standby whose volume lost its data directory", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        cluster.node("pg-2").data = false;
        const { actions, lines } = await converge(cluster, "pg-1");
        expect(lines).toContain("pg-2: its volume holds no data directory (lost outside pgtopo); it waits for one");
        expect(actions).toEqual([
            "stop pg-2 (60s)",
            "pgtopo-set-aside discard in a one-shot on pg-2",
            "pgtopo-clone in a one-shot on pg-2",
            "start pg-2",
        ]);
    });

    it("drops a pgtopo slot nobody consumes", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        cluster.node("pg-1").slots.set("pgtopo_ghost", { lost: false });
        const { actions } = await converge(cluster, "pg-1");
        expect(actions).toEqual(["pgtopo-slot drop pgtopo_ghost on pg-1"]);
    });

    it("stops with the standby's last log lines when it does not stream and nothing says why", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        cluster.knobs.neverStream.add("pg-2");
        const { result } = await converge(cluster, "pg-1");
        expect((result as Error).message).toBe("pg-2 does not stream from pg-1; its last log lines:\n");
    });
});

describe("the converge step with routers (pgtopo:endpoints), against a fake cluster", () => {
    const endpoints = { endpoints: { rw: { port: 16432 }, ro: { port: 16433 }, pauseTimeout: 7 } };

    it("pauses the routers before fencing, points them at the target while it is promoted, resumes them the moment it is", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1", "pg-3": "pg-1" });
        const router = cluster.routers.add("router", { rw: "pg-1:5432", ro: ["pg-2:5432", "pg-3:5432"] });
        const { result, actions, lines } = await converge(cluster, "pg-2", { "pg-3": "pg-2" }, endpoints);
        expect(result).not.toBeInstanceOf(Error);
        expect(actions.slice(0, 7)).toEqual([
            "pause rw of router (7s)",
            "stop pg-1 (60s)",
            "pgtopo-checkpoint-lsn in a one-shot on pg-1",
            // Beside the promotion (the routers are paused: no server connection to move);
            // ro without pg-1, which is down until it has rejoined.
            "point router: rw pg-2:5432, ro pg-3:5432",
            "promote pg-2",
            // As soon as the promotion returns, before the new primary's checkpoint.
            "resume router",
            "checkpoint pg-2",
        ]);
        // Once every node is as configured, ro spreads over both standbys again.
        expect(actions.at(-1)).toBe("point router: rw pg-2:5432, ro pg-1:5432,pg-3:5432");
        expect(router).toMatchObject({ paused: { rw: false, ro: false }, targets: { rw: "pg-2:5432" } });
        expect(lines).toContain(
            "router: ro points at pg-3:5432, not pg-1:5432,pg-3:5432: point it where the config says",
        );
    });

    it("abandons a switchover whose in-flight transactions outlast the pause: routers resumed, nothing else changed", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        cluster.routers.add("router", { rw: "pg-1:5432", ro: ["pg-2:5432"] }).longTransaction = true;
        const { result, actions } = await converge(cluster, "pg-2", {}, endpoints);
        expect(actions).toEqual(["pause rw of router (7s)", "resume router"]);
        expect((result as Error).message).toBe(
            "switchover abandoned: the transactions in flight behind router did not finish within 7s (pgtopo:endpoints.pauseTimeout); the routers were resumed and nothing else changed",
        );
        expect(cluster.node("pg-1").primary).toBe(true);
    });

    it("resumes the routers when the switchover aborts after the pause, still pointed at the old primary", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        const router = cluster.routers.add("router", { rw: "pg-1:5432", ro: ["pg-2:5432"] });
        cluster.knobs.targetStopsStreaming = true;
        const { result, actions } = await converge(cluster, "pg-2", {}, endpoints);
        expect(actions).toEqual([
            "pause rw of router (7s)",
            "stop pg-1 (60s)",
            "pgtopo-checkpoint-lsn in a one-shot on pg-1",
            "start pg-1",
            "resume router",
        ]);
        expect((result as Error).message).toMatch(/^switchover aborted: /);
        expect(router).toMatchObject({ paused: { rw: false, ro: false }, targets: { rw: "pg-1:5432" } });
    });

    it("fails over without a pause: the routers are pointed at the new primary once it is promoted", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        cluster.routers.add("router", { rw: "pg-1:5432", ro: ["pg-2:5432"] });
        cluster.node("pg-1").container = "stopped";
        const { actions } = await converge(cluster, "pg-2", {}, endpoints);
        expect(actions.slice(0, 3)).toEqual([
            "promote pg-2",
            "checkpoint pg-2",
            "point router: rw pg-2:5432, ro pg-2:5432",
        ]);
        expect(actions).not.toContain("pause rw of router (7s)");
        expect(actions.at(-1)).toBe("point router: rw pg-2:5432, ro pg-1:5432");
    });

    it("repairs a router paused by hand, pointed elsewhere, or stopped", async () => {
        const cluster = FakeCluster.of("pg-1", { "pg-2": "pg-1" });
        const router = cluster.routers.add("router", { rw: "pg-2:5432", ro: ["pg-2:5432"] });
        router.paused.rw = true;
        const first = await converge(cluster, "pg-1", {}, endpoints);
        expect(first.actions).toEqual(["resume router", "point router: rw pg-1:5432, ro pg-2:5432"]);
        expect(first.lines).toContain("router: its rw listener is paused: resume it");
        cluster.actions.length = 0;
        router.container = "stopped";
        const second = await converge(cluster, "pg-1", {}, endpoints);
        expect(second.actions).toEqual(["start router", "point router: rw pg-1:5432, ro pg-2:5432"]);
    });
});

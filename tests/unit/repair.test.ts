import { describe, expect, it } from "vitest";
import { planConvergence } from "../../planning/convergence";
import type { NodeObservation } from "../../planning/observation";
import { whyNotStreaming } from "../../planning/streaming";
import { changed, observedPrimary, observedStandby } from "../support/observations";
import { containerGeneration } from "../../planning/generation";
import { describeRepairs, planRepairs, type PlannedStandby } from "../../planning/repair";

/** pg-1 -> pg-2 -> pg-3, and pg-4 straight from pg-1: the planned tree, upstreams first. */
const nodes: PlannedStandby[] = [
    { name: "pg-1" },
    { name: "pg-2", upstream: "pg-1", slot: "pgtopo_pg_2" },
    { name: "pg-4", upstream: "pg-1", slot: "pgtopo_pg_4" },
    { name: "pg-3", upstream: "pg-2", slot: "pgtopo_pg_3" },
];

const standby = observedStandby;

function healthy(): NodeObservation[] {
    return [
        observedPrimary("pg-1", {
            slots: [
                { name: "pgtopo_pg_2", active: true, walStatus: "reserved" },
                { name: "pgtopo_pg_4", active: true, walStatus: "reserved" },
            ],
        }),
        standby("pg-2", "pg-1", { slots: [{ name: "pgtopo_pg_3", active: true, walStatus: "reserved" }] }),
        standby("pg-3", "pg-2"),
        standby("pg-4", "pg-1"),
    ];
}
const change = changed;
const request = { target: "pg-1", maxLagOnFailover: 1 << 20, nodes };

describe("planRepairs", () => {
    it("finds nothing to repair in a cluster that runs as planned, and the program sees no drift", () => {
        expect(planRepairs("pg-1", nodes, healthy())).toEqual([]);
        const plan = planConvergence(request, healthy());
        expect(plan.drifted).toBe(false);
        expect(plan.lines).toEqual(["pg-1 stays primary"]);
    });

    it("starts a stopped standby as it is, but rejoins a stopped node whose data is a primary's", () => {
        const stopped = change(
            change(healthy(), "pg-3", { container: "stopped", reachable: false, dataIsStandby: true }),
            "pg-4",
            {
                container: "stopped",
                reachable: false,
                dataIsStandby: false,
            },
        );
        expect(planRepairs("pg-1", nodes, stopped).map((r) => [r.node, r.action])).toEqual([
            ["pg-4", "rejoin"],
            ["pg-3", "start"],
        ]);
        const plan = planConvergence(request, stopped);
        expect(plan.drifted).toBe(true);
        // The change-of-primary planner fences the one that may be a primary, not the standby.
        expect(plan.transition).toEqual({ kind: "none", primary: "pg-1", fence: ["pg-4"] });
    });

    it("re-creates a missing slot, and re-clones a standby whose slot was lost", () => {
        let seen = change(healthy(), "pg-2", { slots: [{ name: "pgtopo_pg_3", active: false, walStatus: "lost" }] });
        seen = change(seen, "pg-1", { slots: [{ name: "pgtopo_pg_2", active: true, walStatus: "reserved" }] });
        expect(planRepairs("pg-1", nodes, seen)).toEqual([
            {
                node: "pg-4",
                action: "create-slot",
                reason: "its slot pgtopo_pg_4 is missing on pg-1",
                slot: "pgtopo_pg_4",
                on: "pg-1",
                replace: false,
            },
            {
                node: "pg-3",
                action: "create-slot",
                reason: "its slot pgtopo_pg_3 on pg-2 is lost (the WAL it held was removed)",
                slot: "pgtopo_pg_3",
                on: "pg-2",
                replace: true,
            },
            { node: "pg-3", action: "reclone", reason: "the WAL it needs is gone from pg-2" },
        ]);
    });

    it("rejoins a standby promoted by hand, and its standby that followed it onto the new timeline", () => {
        let seen = change(healthy(), "pg-2", { inRecovery: false, timeline: 2, receiverStatus: undefined });
        seen = change(seen, "pg-3", { timeline: 2 });
        expect(planRepairs("pg-1", nodes, seen).map((r) => `${r.node} ${r.action}: ${r.reason}`)).toEqual([
            "pg-2 rejoin: it accepts writes but must be a standby (promoted outside pgtopo?)",
            "pg-3 rejoin: it is on timeline 2, which the primary (on 1) does not have",
        ]);
        const plan = planConvergence(request, seen);
        expect(plan.transition).toEqual({ kind: "none", primary: "pg-1", fence: ["pg-2"] });
        expect(plan.lines[0]).toBe("pg-1 stays primary; pg-2 will be fenced if running and (re)started as standbys");
    });

    it("re-points a standby told to stream from the wrong node or through the wrong slot", () => {
        const seen = change(healthy(), "pg-3", { conninfoHost: "pg-1", slotSetting: undefined, upstreamHost: "pg-1" });
        expect(describeRepairs(planRepairs("pg-1", nodes, seen))).toEqual([
            "pg-3: it is told to stream from pg-1 through no slot, not from pg-2 through pgtopo_pg_3: re-point it (reload, no restart)",
        ]);
    });

    it("checks a standby that is pointed right but does not stream, saying when it is on an older timeline", () => {
        const onThree = ["pg-1", "pg-2", "pg-3"].reduce((list, n) => change(list, n, { timeline: 3 }), healthy());
        const seen = change(onThree, "pg-4", {
            receiverStatus: undefined,
            upstreamHost: undefined,
            timeline: 2,
        });
        expect(describeRepairs(planRepairs("pg-1", nodes, seen))).toEqual([
            "pg-4: it does not stream from pg-1 (on timeline 2, the primary is on 3): wait for it to stream, then rewind or re-clone it if it cannot",
        ]);
    });

    it("drops pgtopo slots that no planned standby consumes, and never anyone else's", () => {
        const seen = change(healthy(), "pg-1", {
            slots: [
                { name: "pgtopo_pg_2", active: true },
                { name: "pgtopo_pg_4", active: true },
                { name: "pgtopo_pg_9", active: false },
                { name: "backup_tool", active: false },
            ],
        });
        expect(planRepairs("pg-1", nodes, seen)).toEqual([
            {
                node: "pg-1",
                action: "drop-slot",
                reason: "slot pgtopo_pg_9 on pg-1 has no consumer in the config",
                slot: "pgtopo_pg_9",
                on: "pg-1",
            },
        ]);
    });

    it("checks a standby that streams, but not yet on its upstream's timeline", () => {
        const seen = change(change(healthy(), "pg-1", { timeline: 2 }), "pg-2", { timeline: 2 });
        expect(planRepairs("pg-1", nodes, seen).map((r) => [r.node, r.action])).toEqual([
            ["pg-4", "check-streaming"],
            ["pg-3", "check-streaming"],
        ]);
    });

    it("leaves alone a node this up creates (not observed), and asks to recreate a removed container", () => {
        const seen = change(healthy(), "pg-2", { container: "missing", reachable: false }).filter(
            (o) => o.name !== "pg-4",
        );
        expect(planRepairs("pg-1", nodes, seen).map((r) => [r.node, r.action])).toEqual([["pg-2", "start"]]);
    });

    it("starts the configured primary first when its container is stopped", () => {
        const seen = change(healthy(), "pg-1", { container: "stopped", reachable: false, dataIsStandby: false });
        const plan = planConvergence(request, seen);
        expect(plan.startPrimary).toBe(true);
        expect(plan.drifted).toBe(true);
        expect(plan.lines[0]).toBe("pg-1: the primary's container is stopped: start it");
    });
});

describe("why a standby does not stream, from what it, its upstream and its container say (no log line)", () => {
    // pg-2 does not stream from pg-1 (its receiver is down); what each says of itself.
    const primary = (delta: Partial<NodeObservation> = {}): NodeObservation => ({
        ...healthy()[0],
        timeline: 2,
        walLsn: "0/9000000",
        history: [{ timeline: 1, switchpoint: "0/3000060" }],
        oldestWal: "000000020000000000000003",
        ...delta,
    });
    const stuck = (delta: Partial<NodeObservation>) =>
        standby("pg-2", "pg-1", { receiverStatus: undefined, upstreamHost: undefined, ...delta });

    it.each([
        // "requested WAL segment 000000010000000000000003 has already been removed"
        ["its WAL is gone from the upstream", stuck({ timeline: 2, replayLsn: "0/2000100" }), primary(), "wal-gone"],
        // "requested timeline 2 is not a child of this server's history"
        [
            "it is on a timeline the upstream does not have",
            stuck({ timeline: 2, replayLsn: "0/4000000" }),
            primary({ timeline: 1, history: [] }),
            "diverged",
        ],
        // "could not receive timeline history file from the primary server"
        [
            "its timeline is not one the upstream's descends from",
            stuck({ timeline: 3, replayLsn: "0/3000000" }),
            primary({
                timeline: 4,
                history: [
                    { timeline: 1, switchpoint: "0/3000060" },
                    { timeline: 2, switchpoint: "0/5000000" },
                ],
            }),
            "diverged",
        ],
        // "could not connect to the primary server: connection refused"
        [
            "its upstream does not answer",
            stuck({ timeline: 2, replayLsn: "0/4000000" }),
            primary({ reachable: false, error: "container stopped" }),
            "unknown",
        ],
        // On the old timeline but not past the fork: it follows the new one by itself.
        [
            "it has not reached the fork on the old timeline",
            stuck({ timeline: 1, replayLsn: "0/3000060" }),
            primary(),
            "unknown",
        ],
        [
            "it catches up on the upstream's timeline",
            stuck({ timeline: 2, replayLsn: "0/4000000" }),
            primary(),
            "unknown",
        ],
    ])("%s", (_what, node, upstream, why) => {
        expect(whyNotStreaming(node, upstream, { hasData: true })).toBe(why);
    });

    it("takes a fork it went past from what PostgreSQL said, not from its control file's timeline", () => {
        // "new timeline 2 forked off current database system timeline 1 before current recovery point 0/3000148":
        // without a receiver, the timeline a standby shows is its control file's, which may lag
        // behind what it replayed (drift.test saw a standby on timeline 2 show 1), so the same
        // numbers are also those of a standby that will follow timeline 2 once its receiver starts.
        const past = stuck({ timeline: 1, replayLsn: "0/3000148" });
        expect(whyNotStreaming(past, primary(), { hasData: true })).toBe("unknown");
        expect(whyNotStreaming(past, primary(), { hasData: true, reported: "diverged" })).toBe("diverged");
        expect(whyNotStreaming(past, primary(), { hasData: true, reported: "wal-gone" })).toBe("wal-gone");
        // No data directory outranks any word left from before.
        expect(whyNotStreaming(past, primary(), { hasData: false, reported: "diverged" })).toBe("no-data");
    });

    it("takes no data directory from its container alone: never from a log line, which may be of a wait since ended", () => {
        // pgtopo-run's "holds no data directory: waiting" may be seconds old; the container decides.
        const waiting: NodeObservation = { ...stuck({}), reachable: false, error: "no such file" };
        expect(whyNotStreaming(waiting, primary(), { hasData: false })).toBe("no-data");
        expect(whyNotStreaming(waiting, primary(), {})).toBe("unknown");
        expect(whyNotStreaming(waiting, primary(), { hasData: true })).toBe("unknown");
    });
});

describe("containerGeneration", () => {
    const now = new Date("2026-11-22T07:00:00.123Z");
    it("keeps what the container says, or nothing for one made before the label", () => {
        expect(containerGeneration({ container: true, label: "recreated-20261101T000000Z", volume: true }, now)).toBe(
            "recreated-20261101T000000Z",
        );
        expect(containerGeneration({ container: true, volume: true }, now)).toBeUndefined();
    });
    it("names a new generation for a container removed from its kept volume, and none for a new node", () => {
        expect(containerGeneration({ container: false, volume: true }, now)).toBe("recreated-20261122T070000Z");
        expect(containerGeneration({ container: false, volume: false }, now)).toBeUndefined();
    });
});

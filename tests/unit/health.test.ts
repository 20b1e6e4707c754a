import { describe, expect, it } from "vitest";
import type { NodeObservation } from "../../planning/observation";
import { assessCluster, topologyTree, type DesiredNode } from "../../planning/health";
import { lagBytes, lsnToBytes } from "../../planning/lsn";
import { changed, observed, observedPrimary } from "../support/observations";

const desired: Record<string, DesiredNode> = {
    "pg-1": { role: "primary", port: 1 },
    "pg-2": { role: "standby", port: 2, upstream: "pg-1" },
    "pg-3": { role: "standby", port: 3, upstream: "pg-2" },
};

function healthy(): NodeObservation[] {
    return [
        observedPrimary("pg-1", {
            walLsn: "0/3000100",
            slots: [{ name: "pgtopo_pg_2", active: true }],
            replicas: [{ name: "pg-2", state: "streaming", replayLagSeconds: 0.002, syncState: "async" }],
        }),
        observed("pg-2", {
            inRecovery: true,
            timeline: 1,
            walLsn: "0/3000100",
            replayLsn: "0/3000100",
            upstreamHost: "pg-1",
            receiverStatus: "streaming",
            slots: [{ name: "pgtopo_pg_3", active: true }],
            replicas: [{ name: "pg-3", state: "streaming", replayLagSeconds: null, syncState: "async" }],
        }),
        observed("pg-3", {
            inRecovery: true,
            timeline: 1,
            walLsn: "0/3000000",
            replayLsn: "0/3000000",
            upstreamHost: "pg-2",
            receiverStatus: "streaming",
        }),
    ];
}

const replace = changed;

describe("assessCluster", () => {
    it("calls a cluster that runs as configured healthy, with lag per standby", () => {
        const status = assessCluster(desired, "pg-1", healthy());
        expect(status.differences).toEqual([]);
        expect(status.healthy).toBe(true);
        expect(status.nodes.map((n) => [n.name, n.role, n.upstream, n.state, n.lagBytes, n.slotActive])).toEqual([
            ["pg-1", "primary", null, "primary", null, null],
            ["pg-2", "standby", "pg-1", "streaming", 0, true],
            ["pg-3", "standby", "pg-2", "streaming", 256, true],
        ]);
        expect(status.nodes[1].lagSeconds).toBe(0.002);
        expect(status.nodes[2].lagSeconds).toBe(0);
    });

    it("with pgtopo:tls, names a standby whose replication connection is not encrypted", () => {
        const encrypted = (ssl: boolean) =>
            replace(
                replace(healthy(), "pg-1", {
                    replicas: [
                        { name: "pg-2", state: "streaming", replayLagSeconds: 0, syncState: "async", ssl: true },
                    ],
                }),
                "pg-2",
                { replicas: [{ name: "pg-3", state: "streaming", replayLagSeconds: 0, syncState: "async", ssl }] },
            );
        const mixed = assessCluster(desired, "pg-1", encrypted(false), { tls: true });
        expect(mixed.differences).toEqual(["pg-3 streams from pg-2 without TLS, though pgtopo:tls is on"]);
        expect(mixed.nodes.map((n) => n.tls)).toEqual([null, true, false]);
        expect(assessCluster(desired, "pg-1", encrypted(true), { tls: true }).healthy).toBe(true);
        // Without the switch, plaintext is what was asked for.
        expect(assessCluster(desired, "pg-1", encrypted(false)).healthy).toBe(true);
    });

    it("notes a diverged data directory kept by a re-clone without calling the cluster unhealthy", () => {
        const observed = replace(healthy(), "pg-2", { keptData: ["pgdata.diverged-20261122T001500Z"] });
        const status = assessCluster(desired, "pg-1", observed);
        expect(status.healthy).toBe(true);
        expect(status.notices).toEqual([
            "pg-2 keeps a diverged data directory from a re-clone: pgdata.diverged-20261122T001500Z (remove it when done)",
        ]);
        expect(assessCluster(desired, "pg-1", healthy()).notices).toEqual([]);
    });

    it("names a standby that accepts writes", () => {
        const status = assessCluster(desired, "pg-1", replace(healthy(), "pg-2", { inRecovery: false }));
        expect(status.healthy).toBe(false);
        expect(status.differences).toContain("pg-2 should be a standby but is not in recovery (it accepts writes)");
        expect(status.differences).toContain("more than one node accepts writes: pg-1, pg-2");
    });

    it("names a standby streaming from the wrong upstream", () => {
        const status = assessCluster(desired, "pg-1", replace(healthy(), "pg-3", { upstreamHost: "pg-1" }));
        expect(status.differences).toEqual(["pg-3 streams from pg-1 instead of pg-2"]);
    });

    it("names a slot nobody consumes and a slot not in use", () => {
        const observed = replace(healthy(), "pg-1", {
            slots: [
                { name: "pgtopo_pg_2", active: false },
                { name: "pgtopo_gone", active: false },
            ],
        });
        const status = assessCluster(desired, "pg-1", observed);
        expect(status.differences).toEqual([
            "slot pgtopo_pg_2 on pg-1 is not in use",
            "slot pgtopo_gone on pg-1 has no consumer in the config",
        ]);
        expect(status.nodes[1].slotActive).toBe(false);
    });

    it("reports stopped and unreachable nodes", () => {
        const observed = replace(
            replace(healthy(), "pg-3", { container: "stopped", reachable: false, inRecovery: undefined }),
            "pg-2",
            { reachable: false, error: "timeout", inRecovery: undefined },
        );
        const status = assessCluster(desired, "pg-1", observed);
        expect(status.nodes.map((n) => n.state)).toEqual(["primary", "unreachable", "stopped"]);
        expect(status.differences).toEqual([
            "pg-2 does not answer: timeout",
            "pg-3 is not running (container stopped)",
        ]);
    });

    it("calls a standby far behind 'catching up'", () => {
        const observed = replace(healthy(), "pg-1", { walLsn: "1/0" });
        const status = assessCluster(desired, "pg-1", observed);
        expect(status.nodes[1].state).toBe("catching up");
    });
});

describe("LSN arithmetic and the tree", () => {
    it("turns LSNs into byte positions", () => {
        expect(lsnToBytes("1/0")).toBe(4294967296n);
        expect(lagBytes("0/3000100", "0/3000000")).toBe(256);
        expect(lagBytes("0/1", "0/5")).toBe(0);
        expect(() => lsnToBytes("nope")).toThrow(/not an LSN/);
    });

    it("draws upstreams above their standbys", () => {
        expect(topologyTree({ ...desired, "pg-4": { role: "standby", port: 4, upstream: "pg-1" } }, "pg-1")).toBe(
            ["pg-1 (primary)", "├── pg-2", "│   └── pg-3", "└── pg-4"].join("\n"),
        );
    });
});

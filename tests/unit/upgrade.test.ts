import { describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../config";
import { planTopology } from "../../planning/topology";
import { planUpgrade, type RunningNode } from "../../planning/upgrade";
import { recoverableWindow, restoreTarget, targetProblem } from "../../planning/restore";

/**
 * A change of pgtopo:postgresVersion under running nodes (planning/upgrade.ts): an upgrade,
 * planned in words for preview, or refused with the field, the value and what is allowed.
 */
const cascade = [
    { name: "pg-1", port: 5432 },
    { name: "pg-2", port: 5433 },
    { name: "pg-3", port: 5434, upstream: "pg-2" },
];
const decide = (raw: Record<string, unknown>, running: readonly RunningNode[]) => {
    const config = parseClusterConfig({ primary: "pg-1", nodes: cascade, ...raw });
    return planUpgrade(config, planTopology(config, "prod"), running, config.postgresVersion, "prod");
};
const on = (major: string, ...nodes: string[]) => nodes.map((node) => ({ node, major }));

describe("a change of postgresVersion under running nodes", () => {
    it("is nothing to do on a new stack or on the major the nodes run", () => {
        expect(decide({ postgresVersion: "17" }, [])).toEqual({ kind: "none" });
        expect(decide({ postgresVersion: "15" }, on("15", "pg-1", "pg-2", "pg-3"))).toEqual({ kind: "none" });
    });

    it("plans 15 -> 17 of a cascade: the primary stops first, every standby follows without a new base backup", () => {
        const decision = decide({ postgresVersion: "17" }, on("15", "pg-1", "pg-2", "pg-3"));
        expect(decision.kind).toBe("upgrade");
        if (decision.kind !== "upgrade") return;
        expect(decision.plan).toMatchObject({
            from: "15",
            to: "17",
            primary: "pg-1",
            stopOrder: ["pg-1", "pg-2", "pg-3"],
            linked: ["pg-2", "pg-3"],
            recloned: [],
        });
        // Preview says it in words: what stops, what is copied, where rollback ends.
        expect(decision.plan.summary).toContain("PostgreSQL 15 -> 17 for stack prod: pg_upgrade --check first");
        expect(decision.plan.summary).toContain("then pg-1, pg-2, pg-3 stop (pg-1, the primary, first)");
        expect(decision.plan.summary).toContain("pg-2, pg-3 follow without a new base backup");
        expect(decision.plan.summary).toContain("puts 15 back as it was");
        expect(decision.plan.summary).toContain("vacuumdb --analyze-in-stages");
    });

    it("refuses a downgrade, as PostgreSQL has none", () => {
        expect(decide({ postgresVersion: "15" }, on("17", "pg-1", "pg-2", "pg-3"))).toEqual({
            kind: "refused",
            problems: [
                'pgtopo:postgresVersion: "15" is not allowed for stack prod: its nodes run PostgreSQL 17 (pg-1, pg-2, pg-3), and PostgreSQL has no downgrade (restore a backup into a new stack instead); allowed: "17"',
            ],
        });
    });

    it("refuses nodes on different majors (a half-done upgrade by hand), naming each", () => {
        const decision = decide({ postgresVersion: "17" }, [...on("14", "pg-1", "pg-3"), ...on("15", "pg-2")]);
        expect(decision).toEqual({
            kind: "refused",
            problems: [
                'pgtopo:postgresVersion: "17" is not allowed for stack prod: its nodes run different majors, 14 (pg-1, pg-3) and 15 (pg-2); an upgrade starts from a cluster on one major (bring every node back to 14 first)',
            ],
        });
    });

    it("finishes an upgrade cut off while the containers were replaced, and refuses to go back from one", () => {
        // pg-2's container was removed and not yet made again when the `up` was killed.
        const cutOff = [...on("17", "pg-1"), ...on("15", "pg-3")];
        const decision = decide({ postgresVersion: "17" }, cutOff);
        expect(decision.kind).toBe("upgrade");
        if (decision.kind !== "upgrade") return;
        expect(decision.plan).toMatchObject({ from: "15", to: "17", linked: ["pg-2", "pg-3"] });
        expect(decision.plan.summary).toMatch(
            /^An earlier `up` that upgraded stack prod was cut off with its nodes on 15 \(pg-3\) and 17 \(pg-1\): this one finishes it/,
        );
        expect(decide({ postgresVersion: "15" }, cutOff)).toEqual({
            kind: "refused",
            problems: [
                'pgtopo:postgresVersion: "15" is not allowed for stack prod: its nodes run 15 (pg-3) and 17 (pg-1), from an upgrade to 17 that was cut off after it was committed, and it goes forward only (PostgreSQL 15 cannot read the linked files again); allowed: "17"',
            ],
        });
    });

    it("refuses a major it has no upgrade for, saying which it has", () => {
        const decision = decide({ postgresVersion: "17" }, on("14", "pg-1", "pg-2", "pg-3"));
        expect(decision).toEqual({
            kind: "refused",
            problems: [
                'pgtopo:postgresVersion: "17" is not allowed for stack prod: pgtopo upgrades PostgreSQL 14 to no later major only; allowed: "14"',
            ],
        });
    });

    it("refuses other changes in the same `up`: an upgrade changes nothing else", () => {
        const decision = decide({ postgresVersion: "17" }, on("15", "pg-1", "pg-2", "pg-3", "pg-4"));
        expect(decision).toEqual({
            kind: "refused",
            problems: [
                "pgtopo:nodes: this config also removes pg-4; an upgrade to 17 changes nothing else in the same `up` (upgrade first, then change the nodes)",
            ],
        });
    });

    it("says, with backups on, that the repository follows", () => {
        const withBackups = decide({ postgresVersion: "17", backup: {} }, on("15", "pg-1", "pg-2", "pg-3"));
        expect(withBackups.kind).toBe("upgrade");
        if (withBackups.kind === "upgrade") {
            expect(withBackups.plan.summary).toContain(
                "with backups on, pgBackRest's stanza-upgrade and a new full backup (backups of 15 cannot restore 17)",
            );
        }
        const without = decide({ postgresVersion: "17" }, on("15", "pg-1", "pg-2", "pg-3"));
        expect(without.kind === "upgrade" && without.plan.summary).not.toContain("stanza-upgrade");
    });

    it("gives a new base backup to standbys on another host than the primary, and to those downstream of them; links the rest", () => {
        const raw = {
            primary: "pg-1",
            postgresVersion: "17",
            hosts: {
                db1: { docker: "ssh://a@db1", address: "10.0.0.11" },
                db2: { docker: "ssh://a@db2", address: "10.0.0.12" },
            },
            nodes: [
                { name: "pg-1", port: 5432, host: "db1" },
                { name: "pg-2", port: 5433, host: "db1" },
                // On the other host, cascading from pg-2: no rsync between the hosts' volumes.
                { name: "pg-3", port: 5432, host: "db2", upstream: "pg-2" },
                // Back on the primary's host, but behind pg-3: it cannot follow a node cloned
                // after the point it stopped at.
                { name: "pg-4", port: 5434, host: "db1", upstream: "pg-3" },
            ],
        };
        const config = parseClusterConfig(raw);
        const across = planUpgrade(config, planTopology(config, "prod"), on("15", "pg-1", "pg-2", "pg-3", "pg-4"), "17", "prod"); // prettier-ignore
        expect(across.kind).toBe("upgrade");
        if (across.kind !== "upgrade") return;
        expect(across.plan).toMatchObject({
            primary: "pg-1",
            stopOrder: ["pg-1", "pg-2"],
            linked: ["pg-2"],
            recloned: ["pg-3", "pg-4"],
        });
        expect(across.plan.summary).toContain("then pg-1, pg-2 stop (pg-1, the primary, first)");
        expect(across.plan.summary).toContain("pg-2 follow without a new base backup");
        expect(across.plan.summary).toContain(
            "pg-3, pg-4 get a new base backup instead (on another host than pg-1, or downstream of one that is",
        );
        expect(across.plan.summary).toContain("they keep running 15 untouched until the upgrade is committed");
        expect(across.plan.summary).not.toContain("commits wait");
        // A synchronous standby among them, and too few linked ones to confirm commits meanwhile.
        const synchronous = parseClusterConfig({
            ...raw,
            nodes: [
                { name: "pg-1", port: 5432, host: "db1" },
                { name: "pg-2", port: 5432, host: "db2" },
            ],
            synchronous: { standbys: ["pg-2"] },
        });
        const waits = planUpgrade(synchronous, planTopology(synchronous, "prod"), on("15", "pg-1", "pg-2"), "17", "prod"); // prettier-ignore
        expect(waits.kind === "upgrade" && waits.plan.summary).toContain(
            "with pgtopo:synchronous, commits wait until the copy of pg-2 is done (fewer than 1 of its synchronous standbys are linked)",
        );
    });
});

describe("restoring from a stack that was upgraded: each major restores its own backups", () => {
    // pgBackRest's info after stanza-upgrade: db 1 on 15, db 2 on 17, a full backup on each.
    const info = {
        db: [
            { id: 1, version: "15" },
            { id: 2, version: "17" },
        ],
        backup: [
            { timestamp: { stop: 1_700_000_000 }, lsn: { stop: "0/3000100" }, database: { id: 1 } },
            { timestamp: { stop: 1_700_000_600 }, lsn: { stop: "0/9000100" }, database: { id: 2 } },
        ],
    };
    const archived = [
        { path: "15-1/0000000100000000/000000010000000000000003-aa.gz", time: 1_700_000_100 },
        { path: "15-1/0000000100000000/000000010000000000000004-bb.gz", time: 1_700_000_200 },
        { path: "17-2/0000000100000000/000000010000000000000009-cc.gz", time: 1_700_000_700 },
        { path: "17-2/0000000100000000", time: 1_700_000_700 },
    ];

    it("reaches, on 17, from the first backup on 17 to the last WAL archived on 17, and knows 15 came before", () => {
        expect(recoverableWindow(info, archived, "17")).toEqual({
            from: { time: new Date(1_700_000_600_000), lsn: "0/9000100" },
            to: { time: new Date(1_700_000_700_000), lsn: "0/A000000" },
            earlier: { major: "15" },
        });
    });

    it("reaches, on 15, what was backed up and archived before the upgrade", () => {
        expect(recoverableWindow(info, archived, "15")).toEqual({
            from: { time: new Date(1_700_000_000_000), lsn: "0/3000100" },
            to: { time: new Date(1_700_000_200_000), lsn: "0/5000000" },
        });
    });

    it("says so when every backup is of another major", () => {
        expect(recoverableWindow({ db: [info.db[0]], backup: [info.backup[0]] }, archived, "17")).toEqual({
            otherMajors: ["15"],
        });
    });

    it("refuses a time before the upgrade on 17 with a sentence, and takes one after it", () => {
        const window = recoverableWindow(info, archived, "17");
        if (typeof window !== "object" || !("from" in window)) throw new Error("no window");
        const before = new Date(1_700_000_300_000).toISOString();
        expect(targetProblem(restoreTarget(before), window, "prod")).toBe(
            `pgtopo:restore.target: "${before}" is before stack prod's upgrade from PostgreSQL 15: what it backed up before is another major than this stack's postgresVersion, which cannot restore it; stack prod's backups reach from 2023-11-14T22:23:20.000Z (0/9000100) to 2023-11-14T22:25:00.000Z (0/A000000, its last archived WAL)`,
        );
        expect(targetProblem(restoreTarget(new Date(1_700_000_650_000).toISOString()), window, "prod")).toBeUndefined();
    });
});

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker, killMatching } from "../support/docker";
import { query } from "../support/postgres";
import { majorAt, rowsAt, tableInodeScript, upWithInjectedFailure } from "../support/upgrade";
import { status } from "../support/status";
import { bringUp, cascadeOfThree, freePorts, pair, TestStack, type ClusterSpec } from "../support/stack";
import { switchOverUnderWrites } from "../support/switchover";
import { RecordingWriter } from "../support/writer";
import { slotNameFor } from "../../planning/topology";

/**
 * Issue 23: a major upgrade by config. A 1 + 2 cascade on PostgreSQL 15 with data, then
 * `postgresVersion: "17"` and one `up`: what pg_upgrade refuses is refused with nothing
 * stopped; a failure after the stop puts 15 back, running and streaming; the upgrade
 * itself under a recording writer keeps every acknowledged row on every node, the standbys
 * streaming through their slots again, without a new base backup; a switchover afterwards
 * loses nothing.
 */
const wait = { timeout: 60_000, interval: 250 };

describe("postgresVersion 15 -> 17 on a live 1 + 2 cascade, in one `up`", () => {
    let stack: TestStack;
    let spec: ClusterSpec;
    let urls: Record<string, string>;
    const nodes = ["pg-1", "pg-2", "pg-3"];

    const majorOf = (node: string) => majorAt(urls[node]);
    const count = (node: string, table: string) => rowsAt(urls[node], table);
    const startedAt = (node: string) => docker("inspect", "--format", "{{.State.StartedAt}}", stack.container(node));
    /** The inode of the table's file on a node: the same one after the upgrade means linked, not copied. */
    const tableInode = (node: string) => docker("exec", stack.container(node), "bash", "-c", tableInodeScript("kept"));

    beforeAll(async () => {
        ({ stack, spec, urls } = await bringUp("upgr", 3, (ports) => ({ postgresVersion: "15", primary: "pg-1", nodes: cascadeOfThree(ports), parameters: { work_mem: "8MB" } }), "1 + 2 cascade on PostgreSQL 15")); // prettier-ignore
        await query(urls["pg-1"], "CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 100000) g"); // prettier-ignore
        await query(urls["pg-1"], "CREATE INDEX ON kept (t)");
        await vi.waitFor(async () => expect(await count("pg-3", "kept")).toBe(100000), wait);
    });

    afterAll(async () => {
        delete process.env.PGTOPO_UPGRADE_FAIL_AT;
        if (stack) await stack.dispose();
    });

    it("refuses what pg_upgrade --check refuses, naming the column, before anything stops", async () => {
        const before = await Promise.all(nodes.map(startedAt));
        await query(urls["pg-1"], "CREATE TABLE grants (id int, a aclitem)");
        await stack.configure({ ...spec, postgresVersion: "17" });
        const failed = await stack.up().then(
            () => "",
            (err: Error) => err.message,
        );
        expect(failed).toMatch(/pgtopo:postgresVersion: \\?"17\\?": pg_upgrade refuses this cluster/);
        expect(failed).toMatch(/public\.grants\.a/);
        expect(failed).not.toContain(decodeURIComponent(new URL(urls["pg-1"]).password));
        // Nothing stopped: every server the same process, on 15.
        expect(await Promise.all(nodes.map(startedAt))).toEqual(before);
        for (const node of nodes) expect(await majorOf(node)).toBe(15);
        await query(urls["pg-1"], "DROP TABLE grants");
    });

    it("puts 15 back, running and streaming, when a step fails after the stop", async () => {
        const failed = await upWithInjectedFailure(stack, spec, "17", "upgraded");
        expect(failed).toContain("failure injected after pg_upgrade");
        expect(failed).toContain("PostgreSQL 15 runs again on every node");
        for (const node of nodes) expect(await majorOf(node)).toBe(15);
        await query(urls["pg-1"], "INSERT INTO kept VALUES (0, 'after the failed upgrade')");
        await vi.waitFor(async () => expect(await count("pg-3", "kept")).toBe(100001), wait);
        // The old directories as they were: no new one left beside them.
        for (const node of nodes) {
            const left = await docker("exec", stack.container(node), "ls", "/var/lib/postgresql/data");
            expect(left).not.toMatch(/pgdata\.new|pgtopo-upgrade-committed/);
        }
        expect((await status(stack.name)).code).toBe(0);
    });

    it("upgrades every node to 17 under a recording writer: no acknowledged row lost, standbys streaming through their slots", async () => {
        const inodeBefore = await tableInode("pg-3");
        const keptRows = await count("pg-1", "kept");
        await query(urls["pg-1"], "CREATE TABLE upgrade_ids (id int PRIMARY KEY)");
        const writer = new RecordingWriter(urls, "upgrade_ids").start();
        await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(20), wait);
        await stack.configure({ ...spec, postgresVersion: "17" });
        stack.log.length = 0; // (what this `up` says, not the failed one's before)
        const result = await stack.timedUp("upgrade 15 -> 17 of a 1 + 2 cascade (100,000 rows)");
        const before = writer.committed.length;
        await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(before + 20), wait);
        await writer.stop();
        console.log(`[timing] upgrade 15 -> 17: longest write gap ${(writer.maxGapMs / 1000).toFixed(1)} s`);
        const log = stack.log.join("");
        // What reached each standby instead of a base backup (pgtopo-upgrade standby says it).
        const copied = [...new Set(log.match(/copied to the standby at \S+: [\d,]+ bytes/g) ?? [])];
        console.log(`[figure] upgrade 15 -> 17, per standby: ${copied.join("; ")}`);
        expect(copied.length).toBe(2);
        expect(log).toContain("PostgreSQL 15 -> 17 for stack");
        expect(log).toContain("every standby streams again on PostgreSQL 17");
        expect(result.summary.resourceChanges?.replace).toBeGreaterThanOrEqual(3);

        const committed = [...writer.committed];
        for (const node of nodes) {
            expect(await majorOf(node)).toBe(17);
            await vi.waitFor(async () => {
                const [row] = await query<{ n: number }>(urls[node], "SELECT count(*)::int AS n FROM upgrade_ids WHERE id = ANY($1::int[])", [committed]); // prettier-ignore
                expect(row.n).toBe(committed.length);
            }, wait);
            expect(await count(node, "kept")).toBe(keptRows);
            // pgtopo's settings carried over; the old directories are gone.
            const [setting] = await query<{ w: string }>(urls[node], "SELECT current_setting('work_mem') AS w");
            expect(setting.w).toBe("8MB");
            const left = await docker("exec", stack.container(node), "ls", "/var/lib/postgresql/data");
            expect(left).not.toMatch(/pgdata\.old|pgdata\.new|pgtopo-upgrade-committed/);
        }
        // Each standby streams from its upstream through its slot, made again on 17.
        for (const [upstream, standby] of [
            ["pg-1", "pg-2"],
            ["pg-2", "pg-3"],
        ]) {
            const rows = await query(urls[upstream], "SELECT r.application_name AS name, r.state, s.slot_name AS slot, s.active FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid"); // prettier-ignore
            expect(rows).toEqual([{ name: standby, state: "streaming", slot: slotNameFor(standby), active: true }]);
        }
        // No new base backup: the standby's table file is the one it had on 15, linked.
        expect(await tableInode("pg-3")).toBe(inodeBefore);
        // Statistics rebuilt.
        const [stats] = await query<{ n: number }>(urls["pg-1"], "SELECT count(*)::int AS n FROM pg_stats WHERE tablename = 'kept'"); // prettier-ignore
        expect(stats.n).toBeGreaterThan(0);
        expect((await status(stack.name)).code).toBe(0);
        spec = { ...spec, postgresVersion: "17" };
    });

    it("takes a switchover afterwards without losing a commit", async () => {
        const committed = await switchOverUnderWrites({
            stack,
            spec,
            urls,
            to: "pg-2",
            label: "switchover after the upgrade",
            wait,
        });
        spec = { ...spec, primary: "pg-2" };
        for (const node of ["pg-1", "pg-3"]) {
            await vi.waitFor(async () => {
                const [row] = await query<{ n: number }>(urls[node], "SELECT count(*)::int AS n FROM ids WHERE id = ANY($1::int[])", [committed]); // prettier-ignore
                expect(row.n).toBe(committed.length);
            }, wait);
            expect(await majorOf(node)).toBe(17);
        }
    });
});

describe("an upgrade interrupted mid-way ends on one major, never between", () => {
    let stack: TestStack;
    let spec: ClusterSpec;
    let urls: Record<string, string>;

    beforeAll(async () => {
        ({ stack, spec, urls } = await bringUp("upgk", 2, (ports) => ({ postgresVersion: "15", primary: "pg-1", nodes: pair(ports) }), "1 + 1 on PostgreSQL 15")); // prettier-ignore
        await query(urls["pg-1"], "CREATE TABLE kept AS SELECT generate_series(1, 5000) AS id");
    });

    afterAll(async () => {
        delete process.env.PGTOPO_UPGRADE_FAIL_AT;
        if (stack) await stack.dispose();
    });

    it("resumes an `up` killed after the stop, and finishes one killed after the commit", async () => {
        await stack.configure({ ...spec, postgresVersion: "17" });
        // 1. Killed (the CLI and the upgrade step) the moment the primary has stopped.
        const interrupted = stack.up().then(
            () => "finished",
            () => "failed",
        );
        await vi.waitFor(
            async () =>
                expect(await docker("container", "inspect", "-f", "{{.State.Running}}", stack.container("pg-1"))).toBe("false"), // prettier-ignore
            { timeout: 300_000, interval: 50 },
        );
        await killMatching("scripts/upgrade.sh", stack.name);
        await killMatching(`pulumi.* up .*--stack ${stack.name}`, stack.name);
        expect(await interrupted).toBe("failed");
        await stack.cancelAfterKill();

        // 2. The next `up` undoes what the killed one left, upgrades again, and is killed
        // right after its commit mark.
        process.env.PGTOPO_UPGRADE_FAIL_AT = "committed";
        try {
            // (Its whole message in the assertion: where it stopped, if not at the mark.)
            const second = await stack.up().then(
                () => "finished",
                (err: Error) => err.message,
            );
            expect(second).toContain("every new data directory is ready: the upgrade goes forward from here");
        } finally {
            delete process.env.PGTOPO_UPGRADE_FAIL_AT;
        }
        const marked = await docker("run", "--rm", "-v", `pgtopo-${stack.name}-pg-1-data:/p`, "pgtopo/upgrade:15-17", "pgtopo-upgrade", "state", "/p"); // prettier-ignore
        expect(marked).toBe("committed");

        // 3. The next `up` goes forward from the mark: 17 everywhere, every row there.
        await stack.timedUp("finish an upgrade killed after its commit");
        expect(stack.log.join("")).toContain("an earlier upgrade to 17 was committed before it was interrupted");
        for (const node of ["pg-1", "pg-2"]) {
            const [row] = await query<{ v: number; n: number }>(urls[node], "SELECT current_setting('server_version_num')::int / 10000 AS v, (SELECT count(*)::int FROM kept) AS n"); // prettier-ignore
            expect(row).toEqual({ v: 17, n: 5000 });
        }
        await query(urls["pg-1"], "INSERT INTO kept VALUES (5001)");
        await vi.waitFor(async () => {
            const [row] = await query<{ n: number }>(urls["pg-2"], "SELECT count(*)::int AS n FROM kept");
            expect(row.n).toBe(5001);
        }, wait);
        expect((await status(stack.name)).code).toBe(0);
    });
});

describe("an upgrade with backups on: the repository follows", () => {
    let stack: TestStack;
    let copy: TestStack | undefined;
    let spec: ClusterSpec;
    let urls: Record<string, string>;

    beforeAll(async () => {
        ({ stack, spec, urls } = await bringUp("upgb", 2, (ports) => ({ postgresVersion: "15", primary: "pg-1", nodes: pair(ports), backup: {} }), "1 + 1 on 15 with backups on")); // prettier-ignore
    });

    afterAll(async () => {
        if (copy) await copy.disposeWithBackups();
        if (stack) await stack.disposeWithBackups();
    });

    /** Every row committed so far is in the repository's archive (its WAL segment switched and archived). */
    const archived = async () => {
        const [{ wal }] = await query<{ wal: string }>(urls["pg-1"], "SELECT pg_walfile_name(pg_current_wal_lsn()) AS wal"); // prettier-ignore
        await query(urls["pg-1"], "SELECT pg_switch_wal()");
        await vi.waitFor(async () => {
            const [row] = await query<{ last: string | null }>(urls["pg-1"], "SELECT last_archived_wal AS last FROM pg_stat_archiver"); // prettier-ignore
            expect(row.last && row.last >= wal).toBe(true);
        }, wait);
    };

    it("upgrades the stanza and takes a full backup on 17; a restore to before the upgrade is refused, one to latest has every row", async () => {
        await query(urls["pg-1"], "CREATE TABLE rows AS SELECT generate_series(1, 100) AS id");
        await archived();
        await new Promise((r) => setTimeout(r, 1100));
        const beforeUpgrade = new Date();
        await new Promise((r) => setTimeout(r, 1100));

        await stack.configure({ ...spec, postgresVersion: "17" });
        await stack.timedUp("upgrade 15 -> 17 of a 1 + 1 with backups on (stanza-upgrade, full backup)");
        const log = stack.log.join("");
        expect(log).toContain("with backups on, pgBackRest's stanza-upgrade and a new full backup");
        expect(log).toMatch(/full backup done from/);
        await query(urls["pg-1"], "INSERT INTO rows SELECT generate_series(101, 200)");
        await archived();
        // Archiving works on 17 (status says so), and the repository knows both majors.
        expect((await status(stack.name)).code).toBe(0);
        const info = JSON.parse(
            await docker("exec", stack.container("pg-1"), "bash", "-c", "source /usr/local/lib/pgtopo/common.sh && run_as_postgres pgbackrest info --output=json"), // prettier-ignore
        ) as { db: { version: string }[]; backup: { type: string; database: { id: number } }[] }[];
        expect(info[0].db.map((d) => d.version)).toEqual(["15", "17"]);
        expect(info[0].backup.filter((b) => b.type === "full").length).toBeGreaterThanOrEqual(2);

        copy = await TestStack.create("upgr");
        const nodes = pair(await freePorts(2));
        const target = beforeUpgrade.toISOString();
        await copy.configure({ postgresVersion: "17", primary: "pg-1", nodes, backup: {}, restore: { fromStack: stack.name, target } }); // prettier-ignore
        await expect(copy.up()).rejects.toThrow(
            `pgtopo:restore.target: "${target}" is before stack ${stack.name}'s upgrade from PostgreSQL 15`,
        );
        expect(await docker("ps", "-aq", "--filter", `label=pgtopo.stack=${copy.name}`)).toBe("");

        await copy.configure({ postgresVersion: "17", primary: "pg-1", nodes, backup: {}, restore: { fromStack: stack.name } }); // prettier-ignore
        await copy.timedUp("restore the upgraded stack's latest into a new 1 + 1 on 17");
        const copyUrls = await copy.connectionStrings();
        for (const node of ["pg-1", "pg-2"]) {
            await vi.waitFor(async () => {
                const [row] = await query<{ v: number; n: number }>(copyUrls[node], "SELECT current_setting('server_version_num')::int / 10000 AS v, (SELECT count(*)::int FROM rows) AS n"); // prettier-ignore
                expect(row).toEqual({ v: 17, n: 200 });
            }, wait);
        }
    });
});

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { query } from "../support/postgres";
import { majorAt, rowsAt, tableInodeScript, upWithInjectedFailure } from "../support/upgrade";
import { startTestHosts, type TestHosts } from "../support/hosts";
import { status } from "../support/status";
import { freePorts, TestStack, type ClusterSpec } from "../support/stack";
import { RecordingWriter } from "../support/writer";
import { slotNameFor } from "../../planning/topology";

/**
 * Issue 23 across hosts: a major upgrade where the documented rsync cannot reach every
 * standby. pg-1 (the primary) and pg-2 (its synchronous standby) on host u1, pg-3 on host
 * u2 cascading from pg-2, over TLS. pg-2 follows pg_upgrade --link without a new base
 * backup (its volume is beside the primary's); pg-3 cannot (no channel between the two
 * hosts' volumes) and gets a new base backup from pg-2 once pg-2 runs 17, its 15 data
 * untouched until the upgrade is committed: a failure before that finds it streaming again.
 */
const wait = { timeout: 90_000, interval: 250 };
const DATA = "/var/lib/postgresql/data";

describe("postgresVersion 15 -> 17 across two hosts, with TLS and a synchronous standby", () => {
    let stack: TestStack;
    let spec: ClusterSpec;
    let urls: Record<string, string>;
    let testHosts: TestHosts;
    let writer: RecordingWriter | undefined;
    const nodes = ["pg-1", "pg-2", "pg-3"];
    const hostOf: Record<string, string> = { "pg-1": "u1", "pg-2": "u1", "pg-3": "u2" };
    const onHost = (node: string, ...args: string[]) => testHosts.docker(hostOf[node], ...args);

    const majorOf = (node: string) => majorAt(urls[node]);
    const count = (node: string, table: string) => rowsAt(urls[node], table);
    /** The inode of the table's file on a node: the same one after the upgrade means linked, not copied. */
    const tableInode = (node: string) =>
        onHost(node, "exec", stack.container(node), "bash", "-c", tableInodeScript("kept"));
    /** What an upstream sees of its standby: streaming, through which slot, over TLS, synchronous or not. */
    const replication = (upstream: string) =>
        query(urls[upstream], "SELECT r.application_name AS name, r.state, r.sync_state AS sync, s.slot_name AS slot, l.ssl FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid JOIN pg_stat_ssl l ON l.pid = r.pid"); // prettier-ignore

    beforeAll(async () => {
        testHosts = await startTestHosts(2, { group: "u", net: 253 });
        const [port, port2] = await freePorts(2);
        stack = await TestStack.create("upgh");
        spec = {
            postgresVersion: "15",
            primary: "pg-1",
            hosts: testHosts.hosts,
            clients: [testHosts.here],
            synchronous: { standbys: ["pg-2"] },
            nodes: [
                { name: "pg-1", port, host: "u1" },
                { name: "pg-2", port: port2, host: "u1" },
                { name: "pg-3", port, host: "u2", upstream: "pg-2" },
            ],
        };
        await stack.configure(spec);
        await stack.timedUp("1 + 2 cascade on two hosts, PostgreSQL 15");
        urls = await stack.connectionStrings();
        await query(urls["pg-1"], "CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 50000) g"); // prettier-ignore
        await vi.waitFor(async () => expect(await count("pg-3", "kept")).toBe(50000), wait);
    });

    afterAll(async () => {
        delete process.env.PGTOPO_UPGRADE_FAIL_AT;
        try {
            // (A failed test's, before its stack goes; bounded: a commit waiting for a
            // synchronous standby that a failure left behind would wait forever.)
            await Promise.race([writer?.stop(), new Promise((resolve) => setTimeout(resolve, 30_000))]);
            if (stack) await stack.dispose();
        } finally {
            await testHosts?.remove();
        }
    });

    it("says in preview which standby is linked and which gets a new base backup", async () => {
        await stack.configure({ ...spec, postgresVersion: "17" });
        const said = (await stack.stack.preview({ color: "never" })).stdout;
        expect(said).toContain("then pg-1, pg-2 stop (pg-1, the primary, first)");
        expect(said).toContain("pg-2 follow without a new base backup");
        expect(said).toContain("pg-3 get a new base backup instead (on another host than pg-1");
    });

    it("puts 15 back when a step fails after the stop: the standby on the other host streams again, untouched", async () => {
        const pg3Started = await onHost("pg-3", "inspect", "--format", "{{.State.StartedAt}}", stack.container("pg-3"));
        const failed = await upWithInjectedFailure(stack, spec, "17", "upgraded");
        expect(failed).toContain("failure injected after pg_upgrade");
        expect(failed).toContain("PostgreSQL 15 runs again on every node");
        for (const node of nodes) expect(await majorOf(node)).toBe(15);
        // pg-3 was never stopped: the same process, which reconnected to pg-2.
        expect(await onHost("pg-3", "inspect", "--format", "{{.State.StartedAt}}", stack.container("pg-3"))).toBe(pg3Started); // prettier-ignore
        await query(urls["pg-1"], "INSERT INTO kept VALUES (0, 'after the failed upgrade')");
        await vi.waitFor(async () => expect(await count("pg-3", "kept")).toBe(50001), wait);
        expect((await status(stack.name)).code).toBe(0);
    });

    it("upgrades: pg-2 linked, pg-3 re-cloned from pg-2 on 17, no acknowledged row lost, TLS and the synchronous standby carried", async () => {
        const inodeBefore = await tableInode("pg-2");
        await query(urls["pg-1"], "CREATE TABLE upgrade_ids (id int PRIMARY KEY)");
        writer = new RecordingWriter(urls, "upgrade_ids").start();
        await vi.waitFor(() => expect(writer!.committed.length).toBeGreaterThan(20), wait);
        await stack.configure({ ...spec, postgresVersion: "17" });
        stack.log.length = 0;
        await stack.timedUp("upgrade 15 -> 17, one standby linked and one re-cloned on another host");
        const before = writer.committed.length;
        await vi.waitFor(() => expect(writer!.committed.length).toBeGreaterThan(before + 20), wait);
        await writer.stop();
        console.log(`[timing] upgrade 15 -> 17 across hosts: longest write gap ${(writer.maxGapMs / 1000).toFixed(1)} s`); // prettier-ignore
        const log = stack.log.join("");
        expect(log).toMatch(/copied to the standby at \S+: [\d,]+ bytes/);
        expect(log).toContain("pg-3 cloned for PostgreSQL 17");

        const committed = [...writer.committed];
        const keptRows = await count("pg-1", "kept");
        for (const node of nodes) {
            expect(await majorOf(node)).toBe(17);
            await vi.waitFor(async () => {
                const [row] = await query<{ n: number }>(urls[node], "SELECT count(*)::int AS n FROM upgrade_ids WHERE id = ANY($1::int[])", [committed]); // prettier-ignore
                expect(row.n).toBe(committed.length);
            }, wait);
            expect(await count(node, "kept")).toBe(keptRows);
            const left = await onHost(node, "exec", stack.container(node), "ls", DATA);
            expect(left).not.toMatch(/pgdata\.old|pgdata\.new|pgtopo-upgrade-committed/);
        }
        // pg-2: linked, its table file the one it had on 15; a synchronous standby again (pgtopo:synchronous
        // defaults to mode "any": a quorum of one), over TLS.
        expect(await tableInode("pg-2")).toBe(inodeBefore);
        expect(await replication("pg-1")).toEqual([
            { name: "pg-2", state: "streaming", sync: "quorum", slot: slotNameFor("pg-2"), ssl: true },
        ]);
        // pg-3: from pg-2 through its slot, over TLS, across the hosts.
        expect(await replication("pg-2")).toEqual([
            { name: "pg-3", state: "streaming", sync: "async", slot: slotNameFor("pg-3"), ssl: true },
        ]);
        expect((await status(stack.name)).code).toBe(0);
        spec = { ...spec, postgresVersion: "17" };

        // A plain `up` afterwards has nothing to do.
        stack.log.length = 0;
        const again = await stack.up();
        expect(again.summary.resourceChanges?.create ?? 0).toBe(0);
        expect(again.summary.resourceChanges?.replace ?? 0).toBe(0);
    });
});

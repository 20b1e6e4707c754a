import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker, objectsOfStack } from "../support/docker";
import { query } from "../support/postgres";
import { freePorts, TestStack, type ClusterSpec } from "../support/stack";

/**
 * Issue 3's acceptance on one running cluster, step by step: a 1 + 3 layout with a
 * cascade two deep, growing, re-pointing without a re-clone, shrinking (slot dropped,
 * volume kept), synchronous replication and settings — never losing a row.
 */
describe("any topology from config", () => {
    let stack: TestStack;
    let ports: number[];
    let urls: Record<string, string>;
    let spec: ClusterSpec;
    let expectedRows = 0;

    const WAIT = { timeout: 60_000, interval: 250 };

    async function slotsOn(node: string): Promise<Record<string, boolean>> {
        const rows = await query<{ slot_name: string; active: boolean }>(
            urls[node],
            "SELECT slot_name, active FROM pg_replication_slots ORDER BY slot_name",
        );
        return Object.fromEntries(rows.map((r) => [r.slot_name, r.active]));
    }

    async function expectEveryStandbyHasAllRows(standbys: string[]): Promise<void> {
        for (const node of standbys) {
            await vi.waitFor(async () => {
                const [row] = await query(
                    urls[node],
                    "SELECT count(*)::int AS n, sum(v)::int AS total FROM topo_check",
                );
                const [primary] = await query(
                    urls[spec.primary],
                    "SELECT count(*)::int AS n, sum(v)::int AS total FROM topo_check",
                );
                expect(row, `rows on ${node}`).toEqual(primary);
                expect(row.n).toBe(expectedRows);
            }, WAIT);
        }
    }

    beforeAll(async () => {
        ports = await freePorts(6);
        stack = await TestStack.create("topo");
        spec = {
            primary: "pg-1",
            nodes: [
                { name: "pg-1", port: ports[0] },
                { name: "pg-2", port: ports[1], upstream: "pg-1" },
                { name: "pg-3", port: ports[2], upstream: "pg-2" },
                { name: "pg-4", port: ports[3] },
            ],
        };
        await stack.configure(spec);
        await stack.timedUp("1 + 3 layout, cold");
        urls = await stack.connectionStrings();
    });

    afterAll(async () => {
        if (stack) await stack.dispose();
    });

    it("replicates inserts, updates and deletes to every standby, cascades included", async () => {
        await query(urls["pg-1"], "CREATE TABLE topo_check (id int PRIMARY KEY, v int NOT NULL)");
        await query(urls["pg-1"], "INSERT INTO topo_check SELECT g, 1 FROM generate_series(1, 200) g");
        await query(urls["pg-1"], "UPDATE topo_check SET v = 2 WHERE id <= 50");
        await query(urls["pg-1"], "DELETE FROM topo_check WHERE id > 150");
        expectedRows = 150;
        await expectEveryStandbyHasAllRows(["pg-2", "pg-3", "pg-4"]);
        const [{ total }] = await query(urls["pg-3"], "SELECT sum(v)::int AS total FROM topo_check");
        expect(total).toBe(200);
    });

    it("makes every standby refuse writes", async () => {
        for (const node of ["pg-2", "pg-3", "pg-4"]) {
            await expect(query(urls[node], "INSERT INTO topo_check VALUES (9999, 1)")).rejects.toThrow(
                /read-only transaction/,
            );
        }
    });

    it("keeps each standby's slot active on its own upstream", async () => {
        expect(await slotsOn("pg-1")).toEqual({ pgtopo_pg_2: true, pgtopo_pg_4: true });
        expect(await slotsOn("pg-2")).toEqual({ pgtopo_pg_3: true });
        expect(await slotsOn("pg-3")).toEqual({});
        expect(await slotsOn("pg-4")).toEqual({});
    });

    it("changes nothing on a second up", async () => {
        const again = await stack.timedUp("1 + 3 layout, no-op");
        expect(Object.keys(again.summary.resourceChanges ?? {})).toEqual(["same"]);
    });

    it("grows: a node added to the config is cloned from its upstream with the same data", async () => {
        spec.nodes.push({ name: "pg-5", port: ports[4], upstream: "pg-4" });
        await stack.configure(spec);
        const writes = query(urls["pg-1"], "INSERT INTO topo_check SELECT g, 1 FROM generate_series(1001, 1100) g");
        const result = await stack.timedUp("1 + 3 layout, add one node");
        await writes;
        expectedRows += 100;
        expect(result.summary.resourceChanges?.create).toBeGreaterThan(0);
        expect(result.summary.resourceChanges?.delete).toBeUndefined();
        urls = await stack.connectionStrings();
        await expectEveryStandbyHasAllRows(["pg-2", "pg-3", "pg-4", "pg-5"]);
        expect(await slotsOn("pg-4")).toEqual({ pgtopo_pg_5: true });
    });

    it("re-points a standby to another upstream without a new clone or a restart", async () => {
        const [before] = await query(
            urls["pg-3"],
            "SELECT pg_postmaster_start_time()::text AS started, (SELECT system_identifier::text FROM pg_control_system()) AS id",
        );
        // A new clone would replace the data directory: a file left in it must survive.
        await docker("exec", stack.container("pg-3"), "touch", "/var/lib/postgresql/data/pgdata/pgtopo-test-marker");
        spec.nodes = spec.nodes.map((n) => (n.name === "pg-3" ? { ...n, upstream: "pg-1" } : n));
        await stack.configure(spec);
        await stack.timedUp("re-point pg-3 from pg-2 to pg-1");

        const [receiver] = await query(urls["pg-3"], "SELECT status, sender_host FROM pg_stat_wal_receiver");
        expect(receiver).toEqual({ status: "streaming", sender_host: "pg-1" });
        const [after] = await query(
            urls["pg-3"],
            "SELECT pg_postmaster_start_time()::text AS started, (SELECT system_identifier::text FROM pg_control_system()) AS id",
        );
        expect(after).toEqual(before);
        await docker(
            "exec",
            stack.container("pg-3"),
            "test",
            "-f",
            "/var/lib/postgresql/data/pgdata/pgtopo-test-marker",
        );
        expect(await slotsOn("pg-1")).toEqual({ pgtopo_pg_2: true, pgtopo_pg_3: true, pgtopo_pg_4: true });
        expect(await slotsOn("pg-2")).toEqual({});

        await query(urls["pg-1"], "INSERT INTO topo_check VALUES (5000, 7)");
        expectedRows += 1;
        await expectEveryStandbyHasAllRows(["pg-3"]);
    });

    it("refuses to remove a node that others stream from, naming them, and changes nothing", async () => {
        const without4 = { ...spec, nodes: spec.nodes.filter((n) => n.name !== "pg-4") };
        await stack.configure(without4);
        await expect(stack.up()).rejects.toThrow(/pgtopo:nodes\[3\] \(pg-5\)\.upstream: "pg-4" is not a node/);
        expect((await objectsOfStack(stack.name)).containers).toHaveLength(5);
        await stack.configure(spec);
    });

    it("refuses a port that another process holds, before changing anything", async () => {
        const holder = createServer();
        await new Promise<void>((resolve) => holder.listen(ports[5], "127.0.0.1", resolve));
        try {
            const moved = { ...spec, nodes: spec.nodes.map((n) => (n.name === "pg-2" ? { ...n, port: ports[5] } : n)) };
            await stack.configure(moved);
            await expect(stack.up()).rejects.toThrow(
                `pgtopo:nodes[1] (pg-2).port: ${ports[5]} is already in use on 127.0.0.1 by another process; choose a free port`,
            );
            const [row] = await query(urls["pg-2"], "SELECT pg_is_in_recovery() AS standby");
            expect(row.standby).toBe(true);
        } finally {
            await new Promise((resolve) => holder.close(resolve));
            await stack.configure(spec);
        }
    });

    it("shrinks: a removed node's container goes, its slot is dropped, its volume is kept", async () => {
        spec.nodes = spec.nodes.filter((n) => n.name !== "pg-5");
        await stack.configure(spec);
        await stack.timedUp("remove pg-5");
        const objects = await objectsOfStack(stack.name);
        expect(objects.containers).not.toContain(stack.container("pg-5"));
        expect(objects.containers).toHaveLength(4);
        expect(objects.volumes).toContain(`${stack.container("pg-5")}-data`);
        expect(await slotsOn("pg-4")).toEqual({});
    });

    it("applies synchronous replication with a reload: a commit waits while the synchronous standby is down", async () => {
        spec.synchronous = { mode: "any", count: 1, standbys: ["pg-2"] };
        await stack.configure(spec);
        await stack.timedUp("synchronous on");
        const [setting] = await query(urls["pg-1"], "SHOW synchronous_standby_names");
        expect(setting.synchronous_standby_names).toBe('ANY 1 ("pg-2")');
        await vi.waitFor(async () => {
            const rows = await query(
                urls["pg-1"],
                "SELECT application_name, sync_state FROM pg_stat_replication WHERE application_name = 'pg-2'",
            );
            expect(rows).toEqual([{ application_name: "pg-2", sync_state: "quorum" }]);
        }, WAIT);

        await docker("stop", stack.container("pg-2"));
        const commit = query(urls["pg-1"], "INSERT INTO topo_check VALUES (6000, 1)").then(() => "committed");
        const outcome = await Promise.race([commit, new Promise((r) => setTimeout(() => r("waiting"), 4000))]);
        expect(outcome).toBe("waiting");
        await docker("start", stack.container("pg-2"));
        expect(await commit).toBe("committed");
        expectedRows += 1;

        spec.synchronous = undefined;
        await stack.configure(spec);
        await stack.timedUp("synchronous off");
        const [off] = await query(urls["pg-1"], "SHOW synchronous_standby_names");
        expect(off.synchronous_standby_names).toBe("");
    });

    it("applies parameters, reloading or restarting as each needs, without losing a row", async () => {
        spec.parameters = { work_mem: "8MB", shared_buffers: "64MB" };
        await stack.configure(spec);
        const result = await stack.timedUp("parameters: one reload, one restart");
        const applied = result.outputs.settingsApplied.value as Record<string, string>;
        for (const node of ["pg-1", "pg-2", "pg-3", "pg-4"]) {
            expect(applied[node], node).toContain("restart needed for: shared_buffers");
            expect(applied[node], node).toContain("restarting");
        }
        expect(result.summary.result).toBe("succeeded");
        for (const node of ["pg-1", "pg-2", "pg-3", "pg-4"]) {
            const [row] = await query(
                urls[node],
                "SELECT current_setting('work_mem') AS work_mem, current_setting('shared_buffers') AS sb",
            );
            expect(row, node).toEqual({ work_mem: "8MB", sb: "64MB" });
        }
        await expectEveryStandbyHasAllRows(["pg-2", "pg-3", "pg-4"]);
    });

    it("replaces a container (new port) without losing its data or its place in the topology", async () => {
        const [before] = await query(urls["pg-4"], "SELECT count(*)::int AS n FROM topo_check");
        spec.nodes = spec.nodes.map((n) => (n.name === "pg-4" ? { ...n, port: ports[5] } : n));
        await stack.configure(spec);
        const result = await stack.timedUp("replace pg-4's container (port change)");
        expect(result.summary.resourceChanges?.replace).toBeGreaterThan(0);
        urls = await stack.connectionStrings();
        expect(urls["pg-4"]).toContain(`:${ports[5]}/`);
        const [after] = await query(urls["pg-4"], "SELECT count(*)::int AS n FROM topo_check");
        expect(after.n).toBe(before.n);
        await query(urls["pg-1"], "INSERT INTO topo_check VALUES (7000, 1)");
        expectedRows += 1;
        await expectEveryStandbyHasAllRows(["pg-4"]);
        expect(await slotsOn("pg-1")).toMatchObject({ pgtopo_pg_4: true });
    });

    it("takes everything away on destroy, kept volumes included", async () => {
        await stack.destroy();
        expect(await objectsOfStack(stack.name)).toEqual({ containers: [], volumes: [], networks: [] });
    });
});

import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker, objectsOfStack } from "../support/docker";
import { query } from "../support/postgres";
import { freePorts, TestStack } from "../support/stack";
import { status } from "../support/status";

/**
 * Issue 2's acceptance: a primary and a streaming standby from config, the checks of
 * the tutorials in shared/seeds (writes and deletes replicate, the standby refuses
 * writes, the standby streams on its slot), a no-op second `up`, and a destroy that
 * leaves nothing behind.
 */
describe("a primary and one standby", () => {
    let stack: TestStack;
    let urls: Record<string, string>;
    let firstUp: Awaited<ReturnType<TestStack["up"]>>;
    let disposed = false;

    beforeAll(async () => {
        const [p1, p2] = await freePorts(2);
        stack = await TestStack.create();
        await stack.configure({
            primary: "pg-1",
            nodes: [
                { name: "pg-1", port: p1 },
                { name: "pg-2", port: p2, upstream: "pg-1" },
            ],
        });
        firstUp = await stack.up();
        urls = await stack.connectionStrings();
    });

    afterAll(async () => {
        if (stack && !disposed) await stack.dispose();
    });

    it("reports the topology in the stack outputs, connection strings as a secret", () => {
        expect(firstUp.summary.result).toBe("succeeded");
        expect(firstUp.outputs.primary.value).toBe("pg-1");
        expect(firstUp.outputs.nodes.value).toMatchObject({
            "pg-1": { role: "primary" },
            "pg-2": { role: "standby", upstream: "pg-1" },
        });
        expect(firstUp.outputs.connectionStrings.secret).toBe(true);
        expect(Object.keys(urls).sort()).toEqual(["pg-1", "pg-2"]);
        expect(urls["pg-1"]).toMatch(/^postgresql:\/\/postgres:[A-Za-z0-9]{32}@127\.0\.0\.1:\d+\/postgres$/);
    });

    it("keeps the generated passwords out of the state file and the logs", async () => {
        const password = new URL(urls["pg-1"]).password;
        // The state file as the backend stores it (exportStack would decrypt secrets).
        const state = readFileSync(stack.stateFile(), "utf8");
        expect(state.length).toBeGreaterThan(1000);
        expect(state).toContain('"ciphertext"');
        expect(state).not.toContain(password);
        expect(stack.log.join("")).not.toContain(password);
    });

    it("replicates inserts and deletes from the primary to the standby", async () => {
        await query(urls["pg-1"], "CREATE TABLE seed_check (id int PRIMARY KEY, note text)");
        await query(urls["pg-1"], "INSERT INTO seed_check SELECT g, 'row ' || g FROM generate_series(1, 100) g");
        await query(urls["pg-1"], "DELETE FROM seed_check WHERE id > 90");
        await query(urls["pg-1"], "UPDATE seed_check SET note = 'updated' WHERE id = 1");
        await vi.waitFor(
            async () => {
                const [row] = await query(urls["pg-2"], "SELECT count(*)::int AS n, max(id) AS max FROM seed_check");
                expect(row).toEqual({ n: 90, max: 90 });
            },
            { timeout: 30_000, interval: 250 },
        );
        const [updated] = await query(urls["pg-2"], "SELECT note FROM seed_check WHERE id = 1");
        expect(updated.note).toBe("updated");
    });

    it("refuses writes on the standby", async () => {
        const [recovery] = await query(urls["pg-2"], "SELECT pg_is_in_recovery() AS standby");
        expect(recovery.standby).toBe(true);
        await expect(query(urls["pg-2"], "INSERT INTO seed_check VALUES (1000, 'nope')")).rejects.toThrow(
            /read-only transaction/,
        );
    });

    it("shows the standby streaming on its own slot in pg_stat_replication", async () => {
        const replication = await query(
            urls["pg-1"],
            "SELECT application_name, state FROM pg_stat_replication ORDER BY application_name",
        );
        expect(replication).toEqual([{ application_name: "pg-2", state: "streaming" }]);
        const slots = await query(urls["pg-1"], "SELECT slot_name, slot_type, active FROM pg_replication_slots");
        expect(slots).toEqual([{ slot_name: "pgtopo_pg_2", slot_type: "physical", active: true }]);
    });

    it("uses data checksums and SCRAM, and refuses a wrong password", async () => {
        const [settings] = await query(
            urls["pg-1"],
            "SELECT current_setting('data_checksums') AS checksums, current_setting('password_encryption') AS enc",
        );
        expect(settings).toEqual({ checksums: "on", enc: "scram-sha-256" });
        const wrong = new URL(urls["pg-1"]);
        wrong.password = "not-the-password";
        await expect(query(wrong.toString(), "SELECT 1")).rejects.toThrow(/password authentication failed/);
    });

    it("comes back on the same data after the containers restart, without a new clone", async () => {
        const [before] = await query(urls["pg-2"], "SELECT pg_postmaster_start_time() AS started");
        await docker("restart", `pgtopo-${stack.name}-pg-1`, `pgtopo-${stack.name}-pg-2`);
        await vi.waitFor(
            async () => {
                const [row] = await query(
                    urls["pg-2"],
                    "SELECT count(*)::int AS n, pg_postmaster_start_time() AS started FROM seed_check",
                );
                expect(row.n).toBe(90);
                expect(row.started).not.toEqual(before.started);
            },
            { timeout: 60_000, interval: 500 },
        );
        const logs = await docker("logs", `pgtopo-${stack.name}-pg-2`);
        expect(logs).toContain("starting as a standby");
        expect(logs).not.toContain("cloning");
        await vi.waitFor(
            async () => {
                const replication = await query(urls["pg-1"], "SELECT state FROM pg_stat_replication");
                expect(replication).toEqual([{ state: "streaming" }]);
            },
            { timeout: 60_000, interval: 500 },
        );
    });

    it("changes nothing on a second up with the same config", async () => {
        const again = await stack.up();
        const changes = Object.entries(again.summary.resourceChanges ?? {}).filter(([op]) => op !== "same");
        expect(changes).toEqual([]);
    });

    it("status: exit 0, every node healthy, as a table and as JSON", async () => {
        const table = await status(stack.name);
        expect(table.code).toBe(0);
        expect(table.stdout).toMatch(/│ pg-2 +│ standby +│ pg-1 +│ streaming +│ 1 +│/);
        expect(table.stdout).toContain("healthy: everything runs as configured");
        const json = await status(stack.name, "--json");
        expect(json.code).toBe(0);
        const report = JSON.parse(json.stdout);
        expect(report.healthy).toBe(true);
        expect(
            report.nodes.map((n: { name: string; state: string; slotActive: boolean | null }) => [
                n.name,
                n.state,
                n.slotActive,
            ]),
        ).toEqual([
            ["pg-1", "primary", null],
            ["pg-2", "streaming", true],
        ]);
        const mermaid = await status(stack.name, "--format", "mermaid");
        expect(mermaid.stdout).toContain("n_pg_1 -->|pgtopo_pg_2| n_pg_2");
    });

    it("status: exit 1 on a deliberately broken cluster, naming every difference", async () => {
        await query(urls["pg-2"], "ALTER SYSTEM SET primary_conninfo = ''");
        await query(urls["pg-2"], "SELECT pg_reload_conf()");
        await query(urls["pg-1"], "SELECT pg_create_physical_replication_slot('forgotten')");
        await vi.waitFor(
            async () => {
                const broken = await status(stack.name, "--json");
                expect(broken.code).toBe(1);
                expect(JSON.parse(broken.stdout).differences).toEqual([
                    "pg-2 should stream from pg-1 but is not streaming",
                    "slot forgotten on pg-1 has no consumer in the config",
                    "slot pgtopo_pg_2 on pg-1 is not in use",
                ]);
            },
            { timeout: 30_000, interval: 500 },
        );
        const table = await status(stack.name);
        expect(table.code).toBe(1);
        expect(table.stdout).toContain("NOT healthy: 3 difference(s) from the config");
        expect(table.stdout).toMatch(/│ pg-2 +│ standby +│ pg-1 +│ not streaming/);
    });

    it("leaves no container, volume or network behind after destroy", async () => {
        expect((await objectsOfStack(stack.name)).containers).toHaveLength(2);
        await stack.destroy();
        expect(await objectsOfStack(stack.name)).toEqual({ containers: [], volumes: [], networks: [] });
        await stack.stack.workspace.removeStack(stack.name);
        disposed = true;
    });
});

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker } from "../support/docker";
import { query } from "../support/postgres";
import { freePorts, TestStack, type ClusterSpec } from "../support/stack";

/**
 * Every postgresVersion the schema accepts builds and runs: 17 on a Debian trixie base
 * image made here like bookworm's (debootstrap + import, no pull). Changing the major of
 * an existing stack is refused before anything changes.
 */
describe("PostgreSQL 17", () => {
    let stack: TestStack;
    let spec: ClusterSpec;
    let urls: Record<string, string>;

    beforeAll(async () => {
        const [p1, p2] = await freePorts(2);
        stack = await TestStack.create();
        spec = {
            postgresVersion: "17",
            primary: "pg-1",
            nodes: [
                { name: "pg-1", port: p1 },
                { name: "pg-2", port: p2 },
            ],
        };
        await stack.configure(spec);
        await stack.timedUp("1 + 1 on PostgreSQL 17, cold (base image and node image made if missing)");
        urls = await stack.connectionStrings();
    });

    afterAll(async () => {
        if (stack) await stack.dispose();
    });

    it("runs a primary and a streaming standby on 17", async () => {
        for (const url of Object.values(urls)) {
            const [row] = await query(url, "SELECT current_setting('server_version_num')::int AS v");
            expect(row.v).toBeGreaterThanOrEqual(170000);
            expect(row.v).toBeLessThan(180000);
        }
        const [replica] = await query(urls["pg-1"], "SELECT application_name AS name, state FROM pg_stat_replication");
        expect(replica).toEqual({ name: "pg-2", state: "streaming" });
        await query(urls["pg-1"], "CREATE TABLE on17 AS SELECT generate_series(1, 50) AS id");
        await vi.waitFor(
            async () => {
                const [row] = await query(urls["pg-2"], "SELECT count(*)::int AS n FROM on17");
                expect(row.n).toBe(50);
            },
            { timeout: 30_000, interval: 250 },
        );
    });

    it("refuses to change the major of the running stack, and changes nothing", async () => {
        const before = await docker("inspect", "-f", "{{.Id}}", stack.container("pg-1"), stack.container("pg-2"));
        await stack.configure({ ...spec, postgresVersion: "15" });
        await expect(stack.up()).rejects.toThrow(
            `pgtopo:postgresVersion: "15" is not allowed for stack ${stack.name}: its nodes run PostgreSQL 17 (pg-1, pg-2), and PostgreSQL has no downgrade (restore a backup into a new stack instead); allowed: "17"`,
        );
        expect(await docker("inspect", "-f", "{{.Id}}", stack.container("pg-1"), stack.container("pg-2"))).toBe(before);
        const [row] = await query(urls["pg-1"], "SELECT count(*)::int AS n FROM on17");
        expect(row.n).toBe(50);
        await stack.configure(spec);
    });
});

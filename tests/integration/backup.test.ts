import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker, objectsOfStack } from "../support/docker";
import { query } from "../support/postgres";
import { freePorts, TestStack, type ClusterSpec } from "../support/stack";

/**
 * Issue 11: continuous WAL archiving and backups with pgBackRest into a repository volume
 * of the stack; archiving follows the primary through a switchover and a failover.
 */
describe("backups with pgBackRest", () => {
    let stack: TestStack;
    let spec: ClusterSpec;
    let urls: Record<string, string>;
    const WAIT = { timeout: 60_000, interval: 500 };

    /** pgBackRest's own account of the repository, asked on a node. */
    async function info(node: string): Promise<{
        status: { code: number; message: string };
        backup: { type: string; label: string }[];
        archive: { id: string; min: string | null; max: string | null }[];
    }> {
        const out = await docker(
            "exec",
            "-u",
            "postgres",
            stack.container(node),
            "pgbackrest",
            "info",
            "--output=json",
        );
        return JSON.parse(out)[0];
    }
    const check = (node: string) => docker("exec", "-u", "postgres", stack.container(node), "pgbackrest", "check");

    beforeAll(async () => {
        const ports = await freePorts(2);
        stack = await TestStack.create("bk");
        spec = {
            primary: "pg-1",
            nodes: [
                { name: "pg-1", port: ports[0] },
                { name: "pg-2", port: ports[1] },
            ],
            backup: { retention: { full: 2 } },
        };
        await stack.configure(spec);
        await stack.timedUp("1 + 1 with backups on, cold (stanza and first full backup included)");
        urls = await stack.connectionStrings();
    });

    afterAll(async () => {
        if (stack) await stack.dispose();
        await docker("volume", "rm", "-f", `pgtopo-${stack.name}-backups`).catch(() => undefined);
    });

    it("takes a first full backup on the first up, into the stack's repository volume", async () => {
        const repo = await info("pg-1");
        expect(repo.status.code).toBe(0);
        expect(repo.backup.map((b) => b.type)).toEqual(["full"]);
        expect(await docker("volume", "inspect", "-f", "{{.Name}}", `pgtopo-${stack.name}-backups`)).toBe(
            `pgtopo-${stack.name}-backups`,
        );
    });

    it("archives every WAL segment of the primary, and only the primary archives", async () => {
        await query(urls["pg-1"], "CREATE TABLE kept AS SELECT generate_series(1, 1000) AS id");
        const [{ wal }] = await query<{ wal: string }>(
            urls["pg-1"],
            "SELECT pg_walfile_name(pg_current_wal_lsn()) AS wal",
        );
        await query(urls["pg-1"], "SELECT pg_switch_wal()");
        await vi.waitFor(async () => {
            const [archive] = (await info("pg-1")).archive;
            expect(archive.max! >= wal).toBe(true);
        }, WAIT);
        await check("pg-1");
        const [standby] = await query(urls["pg-2"], "SELECT archived_count FROM pg_stat_archiver");
        expect(Number(standby.archived_count)).toBe(0);
    });

    it("keeps archiving from the new primary after a switchover and after a failover", async () => {
        await stack.configure({ ...spec, primary: "pg-2" });
        await stack.timedUp("switchover to pg-2 with archiving on");
        await check("pg-2");
        await docker("kill", stack.container("pg-2"));
        await stack.configure({ ...spec, primary: "pg-1" });
        await stack.timedUp("failover to pg-1 with archiving on");
        await check("pg-1");
        const [{ timeline }] = await query(
            urls["pg-1"],
            "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS timeline",
        );
        // The archive holds the new timelines' history files: what a restore follows.
        const histories = await docker(
            "exec",
            stack.container("pg-1"),
            "sh",
            "-c",
            "ls /var/lib/pgbackrest/archive/pgtopo/*/ | grep -c history",
        );
        expect(Number(histories)).toBe(Number(timeline) - 1);
    });

    it("npm run backup takes another backup now; retention expires the oldest full ones", async () => {
        for (const type of ["diff", "full", "full"]) {
            await docker("exec", stack.container("pg-1"), "pgtopo-backup", type);
        }
        const types = (await info("pg-1")).backup.map((b) => b.type);
        // retention full: 2 keeps the two newest full backups (and what depends on them).
        expect(types).toEqual(["full", "full"]);
    });

    it("keeps the repository volume when the stack is destroyed", async () => {
        await stack.destroy();
        expect((await objectsOfStack(stack.name)).volumes).toEqual([]);
        expect(await docker("volume", "ls", "-q", "--filter", `label=pgtopo.backups=${stack.name}`)).toBe(
            `pgtopo-${stack.name}-backups`,
        );
    });
});

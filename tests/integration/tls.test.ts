import { existsSync, rmSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker, NODE_IMAGE } from "../support/docker";
import { query } from "../support/postgres";
import { bringUp, cascadeOfThree, freePorts, TestStack, type ClusterSpec } from "../support/stack";
import { status } from "../support/status";
import { switchOverUnderWrites } from "../support/switchover";

/**
 * pgtopo:tls on one machine (issue 12's switch): every TCP connection to and between the
 * nodes encrypted, each client verifying the server against the stack's own CA, and
 * plaintext refused, from this machine and from inside the stack's network alike.
 */
describe("pgtopo:tls", () => {
    let stack: TestStack;
    let spec: ClusterSpec;
    let urls: Record<string, string>;
    const WAIT = { timeout: 60_000, interval: 500 };

    /** The upstream's view of a standby's replication connection: TLS or not. */
    const replicationSsl = async (upstream: string, standby: string) =>
        query<{ ssl: boolean; version: string }>(
            urls[upstream],
            "SELECT s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = $1",
            [standby],
        );

    beforeAll(async () => {
        ({ stack, spec, urls } = await bringUp("tls", 3, (ports) => ({ primary: "pg-1", nodes: cascadeOfThree(ports), tls: true }), "1 + 2 with a cascade, TLS on, cold")); // prettier-ignore
    });

    afterAll(async () => {
        if (stack) await stack.dispose();
    });

    it("streams every replication connection over TLS, each standby verifying its upstream's name", async () => {
        for (const [upstream, standby] of [
            ["pg-1", "pg-2"],
            ["pg-2", "pg-3"],
        ]) {
            await vi.waitFor(async () => {
                const rows = await replicationSsl(upstream, standby);
                expect(rows, `${standby} on ${upstream}`).toEqual([{ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) }]); // prettier-ignore
            }, WAIT);
            const [{ conninfo }] = await query<{ conninfo: string }>(
                urls[standby],
                "SELECT current_setting('primary_conninfo') AS conninfo",
            );
            expect(conninfo).toContain(`host=${upstream} `);
            expect(conninfo).toContain("sslmode=verify-full sslrootcert=");
        }
    });

    it("gives connection strings that verify the server against the stack's CA, kept on this machine", async () => {
        const url = new URL(urls["pg-1"]);
        expect(url.searchParams.get("sslmode")).toBe("verify-full");
        const caFile = url.searchParams.get("sslrootcert")!;
        expect(existsSync(caFile)).toBe(true);
        const [row] = await query<{ ssl: boolean }>(
            urls["pg-1"],
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        );
        expect(row.ssl).toBe(true);
        // Verification is real: the same URL with another CA (a fresh one) is refused.
        const other = await docker("run", "--rm", "--entrypoint", "sh", NODE_IMAGE, "-c",
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=other -keyout /dev/null 2>/dev/null"); // prettier-ignore
        const otherFile = `${caFile}.other-test`;
        writeFileSync(otherFile, `${other}\n`);
        try {
            const wrong = new URL(urls["pg-1"]);
            wrong.searchParams.set("sslrootcert", otherFile);
            await expect(query(wrong.toString(), "SELECT 1")).rejects.toThrow(/certificate/);
        } finally {
            rmSync(otherFile, { force: true });
        }
    });

    it("refuses a plaintext connection from this machine", async () => {
        const plain = new URL(urls["pg-1"]);
        plain.search = "?sslmode=disable";
        await expect(query(plain.toString(), "SELECT 1")).rejects.toThrow(/no pg_hba\.conf entry .*no encryption/);
    });

    it("refuses a plaintext replication connection from inside the stack's network", async () => {
        const attempt = docker(
            "run", "--rm", "--network", `pgtopo-${stack.name}-net`, "--entrypoint", "psql", NODE_IMAGE,
            "host=pg-1 user=replicator dbname=postgres replication=true sslmode=disable connect_timeout=5",
            "-c", "IDENTIFY_SYSTEM",
        ); // prettier-ignore
        await expect(attempt).rejects.toThrow(/no pg_hba\.conf entry for replication connection .*no encryption/);
    });

    it("switches over with TLS under a recording writer: no committed id lost, the old primary streams back over TLS", async () => {
        const label = "switchover to pg-2 with TLS on";
        await switchOverUnderWrites({ stack, spec, urls, to: "pg-2", label, wait: WAIT });
        for (const standby of ["pg-1", "pg-3"]) {
            await vi.waitFor(async () => {
                expect(await replicationSsl("pg-2", standby)).toEqual([{ ssl: true, version: expect.any(String) }]);
            }, WAIT);
        }
        const healthy = await status(stack.name, "--json");
        expect(healthy.code, healthy.stdout).toBe(0);
        const nodes = JSON.parse(healthy.stdout).nodes as { name: string; tls: boolean | null }[];
        expect(nodes.map((n) => [n.name, n.tls])).toEqual([["pg-1", true], ["pg-2", null], ["pg-3", true]]); // prettier-ignore
    });

    it("turns TLS off with the same switch: plaintext streams again, and the CA file is removed", async () => {
        const caFile = new URL(urls["pg-1"]).searchParams.get("sslrootcert")!;
        await stack.configure({ ...spec, primary: "pg-2", tls: false });
        await stack.timedUp("TLS turned off");
        urls = await stack.connectionStrings();
        expect(new URL(urls["pg-1"]).search).toBe("");
        expect(existsSync(caFile)).toBe(false);
        for (const standby of ["pg-1", "pg-3"]) {
            await vi.waitFor(async () => {
                expect(await replicationSsl("pg-2", standby)).toEqual([{ ssl: false, version: null }]);
            }, WAIT);
        }
        const healthy = await status(stack.name);
        expect(healthy.code, healthy.stdout).toBe(0);
    });

    it("turns TLS on for a running stack: every replication connection moves over to TLS", async () => {
        await stack.configure({ ...spec, primary: "pg-2", tls: true });
        await stack.timedUp("TLS turned on for a running 1 + 2");
        urls = await stack.connectionStrings();
        expect(new URL(urls["pg-1"]).searchParams.get("sslmode")).toBe("verify-full");
        for (const standby of ["pg-1", "pg-3"]) {
            await vi.waitFor(async () => {
                expect(await replicationSsl("pg-2", standby)).toEqual([{ ssl: true, version: expect.any(String) }]);
            }, WAIT);
        }
        const healthy = await status(stack.name);
        expect(healthy.code, healthy.stdout).toBe(0);
    });

    it("takes backups with TLS on (the standby read through pgBackRest's TLS server), and restores them into a stack without TLS", async () => {
        await query(urls["pg-2"], "CREATE TABLE kept AS SELECT generate_series(1, 500) AS id");
        await stack.configure({ ...spec, primary: "pg-2", tls: true, backup: { deleteBackupsOnDestroy: true } });
        await stack.timedUp("backups turned on with TLS on");
        const info = await docker(
            "exec",
            stack.container("pg-2"),
            "cat",
            "/var/lib/pgbackrest/backup/pgtopo/backup.info",
        );
        expect(info).toMatch(/^\d{8}-\d{6}F=.*"option-backup-standby":true/m);
        await query(urls["pg-2"], "SELECT pg_switch_wal()");
        const [port] = await freePorts(1);
        const copy = await TestStack.create("tls-rs");
        try {
            await copy.configure({
                primary: "pg-1",
                nodes: [{ name: "pg-1", port }],
                restore: { fromStack: stack.name },
            });
            await copy.timedUp("restore of a TLS stack's backup into a stack without TLS");
            const copyUrls = await copy.connectionStrings();
            expect(new URL(copyUrls["pg-1"]).search).toBe("");
            const [row] = await query<{ n: number }>(copyUrls["pg-1"], "SELECT count(*)::int AS n FROM kept");
            expect(row.n).toBe(500);
        } finally {
            await copy.dispose();
        }
    });
});

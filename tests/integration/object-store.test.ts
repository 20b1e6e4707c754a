import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker } from "../support/docker";
import { startTestHosts, type TestHosts } from "../support/hosts";
import { startTestObjectStore, type TestObjectStore } from "../support/object-store";
import { query } from "../support/postgres";
import { bringUp, freePorts, pair, PROJECT_DIR, TestStack, type ClusterSpec } from "../support/stack";
import { status } from "../support/status";
import { expectRestoredBetween } from "../support/restored";
import { RecordingWriter } from "../support/writer";

const run = promisify(execFile);

/**
 * Issue 22: the repository in an S3-compatible object store (pgtopo:backup.s3): a real
 * one, SeaweedFS over TLS in a namespace of its own. Backups, archiving through a
 * switchover, the store away and back, and a restore into a new stack after the source
 * stack was destroyed; with asynchronous archiving (the hosts test below archives
 * synchronously, the default).
 */
describe("backups into an S3-compatible object store", () => {
    let store: TestObjectStore;
    let stack: TestStack | undefined;
    let spec: ClusterSpec;
    let urls: Record<string, string>;
    const WAIT = { timeout: 90_000, interval: 1000 };

    const pgbackrest = (node: string, ...args: string[]) =>
        docker("exec", "-u", "postgres", stack!.container(node), "pgbackrest", ...args);
    async function info(node: string) {
        const [repo] = JSON.parse(await pgbackrest(node, "info", "--output=json"));
        return repo as {
            status: { code: number; message: string };
            backup: { type: string; label: string }[];
            archive: { max: string | null }[];
        };
    }

    beforeAll(async () => {
        store = await startTestObjectStore({ name: "store", net: 248 });
        ({ stack, spec, urls } = await bringUp("os", 2, (ports) => ({ primary: "pg-1", nodes: pair(ports), backup: { s3: store.s3, archiveAsync: true } }), "1 + 1 with backups into the object store, cold (stanza and first full backup included)")); // prettier-ignore
    });

    afterAll(async () => {
        if (stack) await stack.dispose();
        if (store) await store.remove();
    });

    it("takes the first full backup into the bucket, under the stack's own prefix, with no repository volume", async () => {
        const repo = await info("pg-1");
        expect(repo.status.code).toBe(0);
        expect(repo.backup.map((b) => b.type)).toEqual(["full"]);
        const env = await docker("exec", stack!.container("pg-1"), "printenv", "PGBACKREST_REPO1_PATH");
        expect(env).toBe(`/pgtopo/${stack!.name}`);
        const listed = JSON.parse(await pgbackrest("pg-1", "repo-ls", "--output=json", "backup/pgtopo"));
        expect(Object.keys(listed)).toContain(repo.backup[0].label);
        await expect(docker("volume", "inspect", `pgtopo-${stack!.name}-backups`)).rejects.toThrow();
    });

    it("keeps the keys out of the state's plain text, out of every command line and out of the logs", async () => {
        const state = readFileSync(stack!.stateFile(), "utf8");
        expect(state).toContain('"ciphertext"');
        expect(state).not.toContain(store.s3.secretKey);
        expect(state).not.toContain(store.s3.accessKey);
        expect(stack!.log.join("\n")).not.toContain(store.s3.secretKey);
        for (const node of ["pg-1", "pg-2"]) {
            const commandLines = await docker("exec", stack!.container(node), "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"); // prettier-ignore
            expect(commandLines).not.toContain(store.s3.secretKey);
            expect(await docker("logs", stack!.container(node))).not.toContain(store.s3.secretKey);
        }
    });

    it("archives from whichever node is primary: a switchover, then every segment in the store", async () => {
        await query(urls["pg-1"], "CREATE TABLE ids (id int PRIMARY KEY)");
        const writer = new RecordingWriter(urls, "ids").start();
        await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(20), WAIT);
        await stack!.configure({ ...spec, primary: "pg-2" });
        await stack!.timedUp("switchover to pg-2, archiving into the object store");
        await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(60), WAIT);
        await writer.stop();
        await pgbackrest("pg-2", "check");
        // Pushed by pgBackRest's asynchronous process: its acknowledgements in the node's spool. The
        // process writes a segment's acknowledgement just after the segment reaches the store (which is
        // all `check` waits for), and clears the ones PostgreSQL has already taken when it starts again:
        // the directory can be empty for that moment, so look until an acknowledgement shows.
        const acks = () => docker("exec", stack!.container("pg-2"), "ls", "/var/lib/postgresql/data/pgbackrest-spool/archive/pgtopo/out"); // prettier-ignore
        await vi.waitFor(async () => expect(await acks()).toMatch(/^0000000[12]0{8}000000[0-9A-F]{2}\.ok$/m), { timeout: 15_000, interval: 100 }); // prettier-ignore
        const { code: exitCode, stdout } = await status(stack!.name);
        expect(stdout).toMatch(/WAL archived up to 0000000200000000/);
        expect(exitCode, stdout).toBe(0);
    });

    it("while the store is away: status says so (exit 1), PostgreSQL keeps the WAL; back, archiving catches up by itself", async () => {
        const ready = async () =>
            Number(await docker("exec", stack!.container("pg-2"), "sh", "-c", "ls $PGDATA/pg_wal/archive_status/ | grep -c '\\.ready$' || true")); // prettier-ignore
        await store.cut();
        try {
            await query(urls["pg-2"], "INSERT INTO ids SELECT g FROM generate_series(1000001, 1001000) g");
            await query(urls["pg-2"], "SELECT pg_switch_wal()");
            await query(urls["pg-2"], "INSERT INTO ids SELECT g FROM generate_series(1001001, 1002000) g");
            await query(urls["pg-2"], "SELECT pg_switch_wal()");
            // Kept where PostgreSQL keeps what it has not archived yet.
            await vi.waitFor(async () => expect(await ready()).toBeGreaterThan(0), WAIT);
            const { code, stdout } = await status(stack!.name);
            expect(code, stdout).toBe(1);
            expect(stdout).toContain(`the backup repository (https://${store.s3.endpoint}/${store.s3.bucket}/pgtopo/${stack!.name}) cannot be read`); // prettier-ignore
        } finally {
            await store.restore();
        }
        await vi.waitFor(async () => expect(await ready()).toBe(0), { timeout: 300_000, interval: 2000 });
        await pgbackrest("pg-2", "check");
        const { code, stdout } = await status(stack!.name);
        expect(code, stdout).toBe(0);
    });

    it("restores a new stack from the store after the source stack was destroyed: every id, to latest", async () => {
        await query(urls["pg-2"], "SELECT pg_switch_wal()");
        await pgbackrest("pg-2", "check");
        const [{ n: expected }] = await query<{ n: number }>(urls["pg-2"], "SELECT count(*)::int AS n FROM ids");
        const source = stack!.name;
        await stack!.dispose();
        stack = undefined;
        const ports = await freePorts(2);
        const copy = await TestStack.create("or");
        try {
            await copy.configure({
                primary: "pg-1",
                nodes: [
                    { name: "pg-1", port: ports[0] },
                    { name: "pg-2", port: ports[1] },
                ],
                backup: { s3: store.s3 },
                restore: { fromStack: source },
            });
            await copy.timedUp("restore to latest from the object store into a new 1 + 1 stack");
            const copyUrls = await copy.connectionStrings();
            for (const node of ["pg-1", "pg-2"]) {
                await vi.waitFor(async () => {
                    const [row] = await query<{ n: number }>(copyUrls[node], "SELECT count(*)::int AS n FROM ids");
                    expect(row.n, `ids on the restored ${node}`).toBe(expected);
                }, WAIT);
            }
            // The new stack backs up under its own prefix, beside the source's.
            const env = await docker("exec", copy.container("pg-1"), "printenv", "PGBACKREST_REPO1_PATH");
            expect(env).toBe(`/pgtopo/${copy.name}`);
        } finally {
            await copy.dispose();
        }
    });
});

/**
 * The reason an object store exists for pgtopo: backups across pgtopo:hosts, where no
 * volume is shared. Three Docker hosts in namespaces of their own (scripts/test-hosts.sh),
 * the store in a fourth: the stack on two of them, its restore on the third.
 */
describe("backups into an object store across Docker hosts", () => {
    let store: TestObjectStore;
    let testHosts: TestHosts;
    let stack: TestStack | undefined;
    const WAIT = { timeout: 90_000, interval: 1000 };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    beforeAll(async () => {
        store = await startTestObjectStore({ name: "store", net: 248 });
        testHosts = await startTestHosts(3, { group: "o", net: 251 });
    });

    afterAll(async () => {
        try {
            if (stack) await stack.dispose();
        } finally {
            await testHosts?.remove();
            await store?.remove();
        }
    });

    it("a switchover between hosts under a recording writer, the store away for a while, then a restore onto a third host to a time between two commits", async () => {
        const [port] = await freePorts(1);
        const spec: ClusterSpec = {
            primary: "pg-1",
            hosts: { o1: testHosts.hosts.o1, o2: testHosts.hosts.o2 },
            clients: [testHosts.here],
            nodes: [
                { name: "pg-1", port, host: "o1" },
                { name: "pg-2", port, host: "o2" },
            ],
            backup: { s3: store.s3 },
        };
        stack = await TestStack.create("osh");
        await stack.configure(spec);
        await stack.timedUp("1 + 1 on two hosts with backups into the object store, cold");
        const pgbackrest = (host: string, node: string, ...args: string[]) =>
            testHosts.docker(host, "exec", "-u", "postgres", stack!.container(node), "pgbackrest", ...args);
        const [repo] = JSON.parse(await pgbackrest("o1", "pg-1", "info", "--output=json"));
        expect(repo.backup.map((b: { type: string }) => b.type)).toEqual(["full"]);

        // A switchover between hosts under a writer: archiving follows the primary.
        const urls = await stack.connectionStrings();
        await query(urls["pg-1"], "CREATE TABLE ids (id int PRIMARY KEY)");
        const writer = new RecordingWriter(urls, "ids").start();
        try {
            await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(20), WAIT);
            await stack.configure({ ...spec, primary: "pg-2" });
            await stack.timedUp("switchover to pg-2 on the other host, archiving into the object store");
            const afterSwitchover = writer.committed.length;
            await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(afterSwitchover + 20), WAIT);

            // The store away while the writer goes on: pg-2 keeps what it cannot archive.
            const ready = async () =>
                Number(await testHosts.docker("o2", "exec", stack!.container("pg-2"), "sh", "-c", "ls $PGDATA/pg_wal/archive_status/ | grep -c '\\.ready$' || true")); // prettier-ignore
            await store.cut();
            try {
                for (let i = 0; i < 3; i++) {
                    await sleep(1000);
                    await query(urls["pg-2"], "SELECT pg_switch_wal()");
                }
                await vi.waitFor(async () => expect(await ready()).toBeGreaterThan(0), WAIT);
                const away = await status(stack.name);
                expect(away.code, away.stdout).toBe(1);
                expect(away.stdout).toContain("cannot be read");
            } finally {
                await store.restore();
            }
            await vi.waitFor(async () => expect(await ready()).toBe(0), { timeout: 300_000, interval: 2000 });
        } finally {
            await writer.stop();
        }
        expect(writer.committed.length).toBeGreaterThan(60);
        await pgbackrest("o2", "pg-2", "check");

        // Two commits with a time between them: the restore keeps the first, not the second.
        await sleep(1100);
        const [{ t }] = await query<{ t: Date }>(urls["pg-2"], "SELECT now() AS t");
        await sleep(1100);
        await query(urls["pg-2"], "INSERT INTO ids SELECT generate_series(10000001, 10000100)");
        await query(urls["pg-2"], "SELECT pg_switch_wal()");
        await pgbackrest("o2", "pg-2", "check");

        // npm run backup finds the primary on its host, which reads the standby's files on
        // the other host through its published pgBackRest server.
        const backUp = (name: string) =>
            run("bash", ["scripts/backup.sh", "--type", "incr"], {
                cwd: PROJECT_DIR,
                env: { ...process.env, PGTOPO_STACK: name },
            });
        const { stdout } = await backUp(stack.name);
        expect(stdout).toMatch(/incr backup done from pg-1: \d{8}-\d{6}F_\d{8}-\d{6}I/);
        const healthy = await status(stack.name);
        expect(healthy.code, healthy.stdout).toBe(0);

        // A new stack on the third host, restored from the store to the time between them.
        const ports = await freePorts(2);
        const copy = await TestStack.create("ohr");
        try {
            await copy.configure({
                primary: "pg-1",
                hosts: { o3: testHosts.hosts.o3 },
                clients: [testHosts.here],
                nodes: [
                    { name: "pg-1", port: ports[0], host: "o3" },
                    { name: "pg-2", port: ports[1], host: "o3" },
                ],
                backup: { s3: store.s3 },
                restore: { fromStack: stack.name, target: t.toISOString() },
            });
            await copy.timedUp(`restore to ${t.toISOString()} from the object store onto a third host`);
            const copyUrls = await copy.connectionStrings();
            const committed = writer.committed;
            await expectRestoredBetween(copyUrls, ["pg-1", "pg-2"], committed, 10000000, WAIT);
            // Two nodes on one host: neither server is published (one port per host), said
            // in the up; the primary reads its standby by name on that host's network.
            expect(copy.log.join("\n")).toContain("pg-1, pg-2 share host o3, so their servers are not published there");
            const copied = await backUp(copy.name);
            expect(copied.stdout).toMatch(/incr backup done from pg-2: /);
        } finally {
            await copy.dispose();
        }
    });
});

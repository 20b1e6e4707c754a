import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker } from "../support/docker";
import { startTestHosts, type TestHosts } from "../support/hosts";
import { query } from "../support/postgres";
import { bringUp, freePorts, pair, PROJECT_DIR, TestStack, type ClusterSpec } from "../support/stack";
import { status } from "../support/status";
import { expectRestoredBetween } from "../support/restored";
import { RecordingWriter } from "../support/writer";

const run = promisify(execFile);

/**
 * Issue 22: the repository on a repository host (pgtopo:backup.repositoryHost): a container
 * of its own holds the repository volume and serves it through pgBackRest's TLS server;
 * nodes archive there, backups run there. On one machine.
 */
describe("backups into a repository host", () => {
    let stack: TestStack | undefined;
    let spec: ClusterSpec;
    let urls: Record<string, string>;
    const WAIT = { timeout: 90_000, interval: 1000 };
    const repository = () => `pgtopo-${stack!.name}-repository`;
    const pgbackrest = (container: string, ...args: string[]) =>
        docker("exec", "-u", "postgres", container, "pgbackrest", ...args);
    const info = async (container: string) =>
        JSON.parse(await pgbackrest(container, "info", "--output=json"))[0] as {
            status: { code: number; message: string };
            backup: { type: string; label: string }[];
        };
    const ready = async (node: string) =>
        Number(await docker("exec", stack!.container(node), "sh", "-c", "ls $PGDATA/pg_wal/archive_status/ | grep -c '\\.ready$' || true")); // prettier-ignore

    beforeAll(async () => {
        ({ stack, spec, urls } = await bringUp("rh", 2, (ports) => ({ primary: "pg-1", nodes: pair(ports), backup: { repositoryHost: {} } }), "1 + 1 with a repository host, cold (its container, stanza and first full backup included)")); // prettier-ignore
    });

    afterAll(async () => {
        if (stack) await stack.disposeWithBackups();
    });

    it("takes the first full backup in the repository's own container; the nodes mount no repository", async () => {
        const repo = await info(repository());
        expect(repo.status.code).toBe(0);
        expect(repo.backup.map((b) => b.type)).toEqual(["full"]);
        // A node asks it through the repository's server: the same answer.
        expect((await info(stack!.container("pg-2"))).backup.map((b) => b.label)).toEqual([repo.backup[0].label]);
        for (const node of ["pg-1", "pg-2"]) {
            const mounts = await docker("inspect", "-f", "{{range .Mounts}}{{.Destination}} {{end}}", stack!.container(node)); // prettier-ignore
            expect(mounts).not.toContain("/var/lib/pgbackrest");
        }
        const mounts = await docker("inspect", "-f", "{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}", repository()); // prettier-ignore
        expect(mounts).toContain(`pgtopo-${stack!.name}-backups:/var/lib/pgbackrest`);
        // Only the stack CA's client certificate gets in: one of the same name from another CA is refused.
        await docker("exec", stack!.container("pg-1"), "sh", "-c",
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=pgtopo-backup -keyout /tmp/other.key -out /tmp/other.crt 2>/dev/null && chown postgres /tmp/other.key /tmp/other.crt"); // prettier-ignore
        // (pgBackRest's info reports a repository it cannot read as status 99, or fails.)
        const refused =
            await pgbackrest(stack!.container("pg-1"), "info", "--output=json", "--repo1-host-cert-file=/tmp/other.crt", "--repo1-host-key-file=/tmp/other.key") // prettier-ignore
                .then(
                    (out) => (JSON.parse(out)[0] as { status: { code: number } }).status.code,
                    () => "failed",
                );
        expect(refused).not.toBe(0);
    });

    it("archives from whichever node is primary through a switchover, under a writer; npm run backup runs there", async () => {
        await query(urls["pg-1"], "CREATE TABLE ids (id int PRIMARY KEY)");
        const writer = new RecordingWriter(urls, "ids").start();
        try {
            await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(20), WAIT);
            await stack!.configure({ ...spec, primary: "pg-2" });
            await stack!.timedUp("switchover to pg-2, archiving to the repository host");
            const after = writer.committed.length;
            await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(after + 20), WAIT);
        } finally {
            await writer.stop();
        }
        await query(urls["pg-2"], "SELECT pg_switch_wal()");
        await pgbackrest(stack!.container("pg-2"), "check");
        const { stdout } = await run("bash", ["scripts/backup.sh", "--type", "incr"], {
            cwd: PROJECT_DIR,
            env: { ...process.env, PGTOPO_STACK: stack!.name },
        });
        // pg-1 is a standby now: the backup read its files.
        expect(stdout).toMatch(/incr backup done from a standby/);
        const healthy = await status(stack!.name);
        expect(healthy.stdout).toMatch(/WAL archived up to 00000002/);
        expect(healthy.code, healthy.stdout).toBe(0);
    });

    it("while the repository host is down: status says so (exit 1), PostgreSQL keeps the WAL; back, archiving catches up by itself", async () => {
        await docker("stop", repository());
        try {
            await query(urls["pg-2"], "INSERT INTO ids SELECT g FROM generate_series(1000001, 1001000) g");
            await query(urls["pg-2"], "SELECT pg_switch_wal()");
            await vi.waitFor(async () => expect(await ready("pg-2")).toBeGreaterThan(0), WAIT);
            const away = await status(stack!.name);
            expect(away.code, away.stdout).toBe(1);
            expect(away.stdout).toContain("the repository host");
        } finally {
            await docker("start", repository());
        }
        await vi.waitFor(async () => expect(await ready("pg-2")).toBe(0), { timeout: 300_000, interval: 2000 });
        await pgbackrest(stack!.container("pg-2"), "check");
    });

    it("a plain up repairs the repository host: started when stopped by hand, recreated when removed by hand, nothing lost; replaced when a node is added", async () => {
        const running = async () => (await docker("inspect", "-f", "{{.State.Running}}", repository())) === "true";
        const backupsBefore = (await info(repository())).backup.map((b) => b.label);
        await docker("stop", repository());
        await stack!.timedUp("a plain up, the repository host's container stopped by hand");
        expect(await running()).toBe(true);

        await docker("rm", "-f", repository());
        await query(urls["pg-2"], "INSERT INTO ids SELECT g FROM generate_series(2000001, 2001000) g");
        await query(urls["pg-2"], "SELECT pg_switch_wal()");
        await vi.waitFor(async () => expect(await ready("pg-2")).toBeGreaterThan(0), WAIT);
        await stack!.timedUp("a plain up, the repository host's container removed by hand");
        expect(await running()).toBe(true);
        // Its volume was kept: the same backups, and the WAL kept meanwhile archived.
        expect((await info(repository())).backup.map((b) => b.label)).toEqual(backupsBefore);
        await vi.waitFor(async () => expect(await ready("pg-2")).toBe(0), { timeout: 300_000, interval: 2000 });
        await pgbackrest(stack!.container("pg-2"), "check");
        const again = await stack!.up();
        expect(Object.keys(again.summary.resourceChanges ?? {}), "the up after the repairs").toEqual(["same"]);

        // A node added, restored from the repository (standbysFrom): the repository's
        // container is replaced in the same `up` (it lists every node as pg1..pgN), the old
        // one removed before the new one takes its name, and the new node's restore waits
        // for it.
        const [port] = await freePorts(1);
        await stack!.configure({
            ...spec,
            primary: "pg-2",
            nodes: [...spec.nodes, { name: "pg-3", port }],
            backup: { repositoryHost: {}, standbysFrom: "repository" },
        });
        await stack!.timedUp("pg-3 added, restored from the repository host: its container replaced");
        expect(await docker("exec", repository(), "printenv", "PGBACKREST_PG3_HOST")).toBe("pg-3");
        const { deployment } = await stack!.stack.exportStack();
        const clone = deployment.resources.find((r: { urn: string }) => r.urn.endsWith("::pgtopo-pg-3-bootstrap"));
        expect(clone.outputs.stdout).toMatch(/pgtopo\[pg-3\]: restoring backup \d{8}-\d{6}F\S* from the repository/);
        expect(clone.outputs.stdout).not.toContain("cloning from");
        const pg3 = (await stack!.connectionStrings())["pg-3"];
        await vi.waitFor(async () => {
            const [{ n }] = await query<{ n: number }>(pg3, "SELECT count(*)::int AS n FROM ids WHERE id > 2000000");
            expect(n).toBe(1000);
        }, WAIT);
        const { stdout } = await run("bash", ["scripts/backup.sh", "--type", "incr"], {
            cwd: PROJECT_DIR,
            env: { ...process.env, PGTOPO_STACK: stack!.name },
        });
        expect(stdout).toMatch(/incr backup done from a standby/);
        const healthy = await status(stack!.name);
        expect(healthy.code, healthy.stdout).toBe(0);
        expect(healthy.stdout).toMatch(/pg-3 .*streaming/);
    });

    it("restores a new stack to a time between two commits, from the repository host's volume", async () => {
        await query(urls["pg-2"], "CREATE TABLE pitr (id int PRIMARY KEY)");
        await query(urls["pg-2"], "INSERT INTO pitr SELECT generate_series(1, 100)");
        await new Promise((r) => setTimeout(r, 1100));
        const [{ t }] = await query<{ t: Date }>(urls["pg-2"], "SELECT now() AS t");
        await new Promise((r) => setTimeout(r, 1100));
        await query(urls["pg-2"], "INSERT INTO pitr SELECT generate_series(101, 200)");
        await query(urls["pg-2"], "SELECT pg_switch_wal()");
        await pgbackrest(stack!.container("pg-2"), "check");
        const ports = await freePorts(2);
        const copy = await TestStack.create("rhr");
        try {
            await copy.configure({
                primary: "pg-1",
                nodes: [
                    { name: "pg-1", port: ports[0] },
                    { name: "pg-2", port: ports[1] },
                ],
                restore: { fromStack: stack!.name, target: t.toISOString() },
            });
            await copy.timedUp(`restore to ${t.toISOString()} from a repository host's volume`);
            const copyUrls = await copy.connectionStrings();
            for (const node of ["pg-1", "pg-2"]) {
                await vi.waitFor(async () => {
                    const [row] = await query(copyUrls[node], "SELECT count(*)::int AS n, max(id) AS hi FROM pitr");
                    expect(row, `the restored ${node}`).toEqual({ n: 100, hi: 100 });
                }, WAIT);
            }
        } finally {
            await copy.dispose();
        }
    });

    it("keeps the repository volume when the stack is destroyed", async () => {
        const name = stack!.name;
        await stack!.destroy();
        expect(await docker("ps", "-aq", "--filter", `label=pgtopo.stack=${name}`)).toBe("");
        expect(await docker("volume", "ls", "-q", "--filter", `label=pgtopo.backups=${name}`)).toBe(
            `pgtopo-${name}-backups`,
        );
    });
});

/**
 * Across hosts, what the repository host is for: nodes on two hosts, the repository on a
 * third (scripts/test-hosts.sh), pgBackRest's servers published on the hosts' addresses;
 * then, the stack gone, a new one on a fourth host restored from the volume it left there.
 */
describe("backups into a repository host across Docker hosts", () => {
    let testHosts: TestHosts;
    let stack: TestStack | undefined;
    const WAIT = { timeout: 90_000, interval: 1000 };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    beforeAll(async () => {
        testHosts = await startTestHosts(4, { group: "r", net: 252 });
    });

    afterAll(async () => {
        try {
            if (stack) await stack.dispose();
        } finally {
            await testHosts?.remove();
        }
    });

    it("a switchover between hosts under a recording writer, the repository host away for a while, npm run backup reading a standby on another host; destroyed, then restored onto a fourth host to a time between two commits", async () => {
        const [port] = await freePorts(1);
        const spec: ClusterSpec = {
            primary: "pg-1",
            hosts: testHosts.hosts,
            clients: [testHosts.here],
            nodes: [
                { name: "pg-1", port, host: "r1" },
                { name: "pg-2", port, host: "r2" },
            ],
            backup: { repositoryHost: { host: "r3" } },
        };
        stack = await TestStack.create("rhh");
        await stack.configure(spec);
        await stack.timedUp("1 + 1 on two hosts, the repository host on a third, cold");
        const repository = `pgtopo-${stack.name}-repository`;
        const pgbackrest = (host: string, container: string, ...args: string[]) =>
            testHosts.docker(host, "exec", "-u", "postgres", container, "pgbackrest", ...args);
        const [repo] = JSON.parse(await pgbackrest("r3", repository, "info", "--output=json"));
        expect(repo.backup.map((b: { type: string }) => b.type)).toEqual(["full"]);

        const urls = await stack.connectionStrings();
        await query(urls["pg-1"], "CREATE TABLE ids (id int PRIMARY KEY)");
        const writer = new RecordingWriter(urls, "ids").start();
        const ready = async () =>
            Number(await testHosts.docker("r2", "exec", stack!.container("pg-2"), "sh", "-c", "ls $PGDATA/pg_wal/archive_status/ | grep -c '\\.ready$' || true")); // prettier-ignore
        try {
            await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(20), WAIT);
            await stack.configure({ ...spec, primary: "pg-2" });
            await stack.timedUp("switchover to pg-2 on the other host, archiving to the repository host");
            const after = writer.committed.length;
            await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(after + 20), WAIT);
            // The repository's host off the network while the writer goes on.
            await testHosts.cut(3);
            try {
                for (let i = 0; i < 3; i++) {
                    await new Promise((r) => setTimeout(r, 1000));
                    await query(urls["pg-2"], "SELECT pg_switch_wal()");
                }
                await vi.waitFor(async () => expect(await ready()).toBeGreaterThan(0), WAIT);
                const away = await status(stack.name);
                expect(away.code, away.stdout).toBe(1);
                // A preview names it, and what happens to the WAL meanwhile.
                const preview = await stack.stack.preview({ color: "never" });
                expect(preview.stdout).toContain(
                    `pgtopo:backup.repositoryHost: the repository host (${repository} on host r3) does not answer`,
                );
                expect(preview.stdout).toContain("WAL that cannot be archived is kept in pg_wal until it is back");
            } finally {
                await testHosts.restore(3);
            }
            await vi.waitFor(async () => expect(await ready()).toBe(0), { timeout: 300_000, interval: 2000 });
        } finally {
            await writer.stop();
        }
        await pgbackrest("r2", stack.container("pg-2"), "check");
        const { stdout } = await run("bash", ["scripts/backup.sh", "--type", "incr"], {
            cwd: PROJECT_DIR,
            env: { ...process.env, PGTOPO_STACK: stack.name },
        });
        expect(stdout).toMatch(/incr backup done from a standby/);
        const healthy = await status(stack.name);
        expect(healthy.code, healthy.stdout).toBe(0);

        // Two commits with a time between them: the restore keeps the first, not the second.
        await sleep(1100);
        const [{ t }] = await query<{ t: Date }>(urls["pg-2"], "SELECT now() AS t");
        await sleep(1100);
        await query(urls["pg-2"], "INSERT INTO ids SELECT generate_series(10000001, 10000100)");
        await query(urls["pg-2"], "SELECT pg_switch_wal()");
        await pgbackrest("r2", stack.container("pg-2"), "check");

        // The stack destroyed: its repository volume stays on the repository's host.
        const source = stack.name;
        await stack.destroy();
        stack = undefined;
        expect(await testHosts.docker("r3", "volume", "ls", "-q", "--filter", `label=pgtopo.backups=${source}`)).toBe(
            `pgtopo-${source}-backups`,
        );

        // A new stack, its primary on a fourth host, its repository on the host that holds
        // the source's volume: the restore reads it through the new repository's server.
        const ports = await freePorts(1);
        const copy = await TestStack.create("rhr");
        try {
            await copy.configure({
                primary: "pg-1",
                hosts: testHosts.hosts,
                clients: [testHosts.here],
                nodes: [
                    { name: "pg-1", port: ports[0], host: "r4" },
                    { name: "pg-2", port: ports[0], host: "r1" },
                ],
                backup: { repositoryHost: { host: "r3" } },
                restore: { fromStack: source, target: t.toISOString() },
            });
            await copy.timedUp(`restore to ${t.toISOString()} through a repository host onto a fourth host`);
            const copyUrls = await copy.connectionStrings();
            const committed = writer.committed;
            expect(committed.length).toBeGreaterThan(60);
            await expectRestoredBetween(copyUrls, ["pg-1", "pg-2"], committed, 10000000, WAIT);
            // The new stack backs up into a repository of its own there, apart from the source's.
            const [own] = JSON.parse(await pgbackrest("r3", `pgtopo-${copy.name}-repository`, "info", "--output=json"));
            expect(own.backup.map((b: { type: string }) => b.type)).toEqual(["full"]);
            const restored = await status(copy.name);
            expect(restored.code, restored.stdout).toBe(0);
        } finally {
            await copy.dispose();
            await testHosts.docker("r3", "volume", "rm", "-f", `pgtopo-${source}-backups`, `pgtopo-${copy.name}-backups`).catch(() => undefined); // prettier-ignore
        }
    });
});

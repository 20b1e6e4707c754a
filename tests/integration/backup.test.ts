import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseClusterConfig } from "../../config";
import { repositoryEnvironment, repositorySecrets } from "../../planning/backup";
import { readRepository } from "../../preflight/restore";
import { docker, NODE_IMAGE, objectsOfStack } from "../support/docker";
import { startTestObjectStore, type TestObjectStore } from "../support/object-store";
import { query } from "../support/postgres";
import { bringUp, freePorts, pair, TestStack, type ClusterSpec } from "../support/stack";
import { status } from "../support/status";
import { RecordingWriter } from "../support/writer";

/**
 * Issue 11: continuous WAL archiving and backups with pgBackRest; archiving follows the
 * primary through a switchover and a failover. Issue 22: every test on each kind of
 * repository, the stack's volume, an S3-compatible object store (SeaweedFS over TLS,
 * scripts/test-object-store.sh) and a repository host (its own container, here on this
 * machine; backups run there); where they differ (how a failure is made, what outlives
 * the stack, where a backup is started), the test says which.
 */
describe.each([{ kind: "volume" }, { kind: "s3" }, { kind: "host" }] as const)(
    "backups with pgBackRest, repository: $kind",
    ({ kind }) => {
        let stack: TestStack;
        let spec: ClusterSpec;
        let urls: Record<string, string>;
        let store: TestObjectStore | undefined;
        const WAIT = { timeout: 60_000, interval: 500 };
        /** The repository's part of pgtopo:backup for this kind. */
        const repositoryKind = () =>
            kind === "s3" ? { s3: store!.s3 } : kind === "host" ? { repositoryHost: {} } : {};
        /** Where `npm run backup` runs: the primary, or the repository host's own container. */
        const backsUp = () => (kind === "host" ? `pgtopo-${stack.name}-repository` : stack.container("pg-1"));

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
        /** Whether pgBackRest read this backup's files from a standby (its backup.info says). */
        async function fromStandby(label: string): Promise<boolean> {
            const text = await docker(
                "exec",
                "-u",
                "postgres",
                stack.container("pg-1"),
                "pgbackrest",
                "repo-get",
                "backup/pgtopo/backup.info",
            );
            const line = text.split("\n").find((l) => l.startsWith(`${label}=`));
            return JSON.parse(line!.slice(label.length + 1))["option-backup-standby"];
        }
        const check = (node: string) => docker("exec", "-u", "postgres", stack.container(node), "pgbackrest", "check");

        beforeAll(async () => {
            if (kind === "s3") store = await startTestObjectStore({ name: "backup", net: 247 });
            ({ stack, spec, urls } = await bringUp({ volume: "bk", s3: "bks", host: "bkh" }[kind], 2, (ports) => ({ primary: "pg-1", nodes: pair(ports), backup: { retention: { full: 2 }, ...repositoryKind() } }), `1 + 1 with backups on (${kind}), cold (stanza and first full backup included)`)); // prettier-ignore
        });

        afterAll(async () => {
            try {
                if (stack) await stack.disposeWithBackups();
            } finally {
                await store?.remove();
            }
        });

        it("takes a first full backup on the first up, into the stack's repository", async () => {
            const repo = await info("pg-1");
            expect(repo.status.code).toBe(0);
            expect(repo.backup.map((b) => b.type)).toEqual(["full"]);
            const volume = docker("volume", "inspect", "-f", "{{.Name}}", `pgtopo-${stack.name}-backups`);
            if (kind !== "s3") expect(await volume).toBe(`pgtopo-${stack.name}-backups`);
            else await expect(volume, "no repository volume with an object store").rejects.toThrow();
            // The files came from the standby, through its TLS server: the primary's disks were spared.
            expect(await fromStandby(repo.backup[0].label)).toBe(true);
        });

        it("backs up from the primary instead when the standby's TLS server cannot be reached", async () => {
            // pg-2's TLS server and the loop that restarts it (pgtopo-backup-server), gone (this shell spared).
            await docker("exec", stack.container("pg-2"), "bash", "-c",
            'for p in /proc/[0-9]*; do [ "${p#/proc/}" = $$ ] && continue; { case "$(tr "\\0" " " <$p/cmdline)" in *"/usr/local/bin/pgtopo-backup-server"*|*"pgbackrest server"*) kill "${p#/proc/}";; esac; } 2>/dev/null; done; true'); // prettier-ignore
            const out = await docker("exec", backsUp(), "pgtopo-backup", "full");
            if (kind === "host") {
                // From the repository host: pg-2 left out at once (its server does not answer).
                expect(out).toContain("pg-2's pgBackRest server does not answer; left out of this backup");
                expect(out).toMatch(/full backup done from the primary: \d{8}-\d{6}F/);
            } else {
                expect(out).toContain(
                    "standby pg-2's pgBackRest server does not answer; taking the backup from pg-1, the primary, instead",
                );
                expect(out).toMatch(/full backup done from pg-1: \d{8}-\d{6}F/);
            }
            expect(await fromStandby((await info("pg-1")).backup.at(-1)!.label)).toBe(false);
            // A restart brings the server back with the node; the next backup is from pg-2 again.
            await docker("restart", stack.container("pg-2"));
            await vi.waitFor(async () => {
                const again = await docker("exec", backsUp(), "pgtopo-backup", "full");
                expect(again).toMatch(
                    kind === "host" ? /full backup done from a standby/ : /full backup done from pg-2/,
                );
            }, WAIT);
            expect(await fromStandby((await info("pg-1")).backup.at(-1)!.label)).toBe(true);
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

        it("keeps archiving from the new primary after a switchover and after a failover; a restore to latest has every id", async () => {
            await query(urls["pg-1"], "CREATE TABLE ids (id int PRIMARY KEY)");
            const writer = new RecordingWriter(urls, "ids").start();
            await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(20), WAIT);
            await stack.configure({ ...spec, primary: "pg-2" });
            await stack.timedUp("switchover to pg-2 with archiving on");
            await check("pg-2");
            await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(60), WAIT);
            // Everything committed reaches pg-1 before pg-2 dies: a failover by config then loses nothing.
            await writer.stop();
            const committed = [...writer.committed];
            await vi.waitFor(async () => {
                const [row] = await query<{ n: number }>(urls["pg-1"], "SELECT count(*)::int AS n FROM ids");
                expect(row.n).toBe(committed.length);
            }, WAIT);
            await docker("kill", stack.container("pg-2"));
            await stack.configure({ ...spec, primary: "pg-1" });
            await stack.timedUp("failover to pg-1 with archiving on");
            await check("pg-1");
            // Everything so far into the archive, then a new stack restored from it to "latest".
            await query(urls["pg-1"], "SELECT pg_switch_wal()");
            await check("pg-1");
            const ports = await freePorts(2);
            const copy = await TestStack.create("rl");
            try {
                await copy.configure({
                    primary: "pg-1",
                    nodes: [
                        { name: "pg-1", port: ports[0] },
                        { name: "pg-2", port: ports[1] },
                    ],
                    restore: { fromStack: stack.name },
                    // Backups on as in the source: the restored settings are then this stack's already.
                    backup: spec.backup,
                });
                const up = await copy.timedUp("restore to latest into a new 1 + 1 stack with backups on");
                console.log(
                    `[restore]\n${up.stdout
                        .split("\n")
                        .filter((l) => l.includes("pgtopo["))
                        .join("\n")}`,
                );
                const copyUrls = await copy.connectionStrings();
                for (const node of ["pg-1", "pg-2"]) {
                    await vi.waitFor(async () => {
                        const rows = await query<{ n: number }>(copyUrls[node], "SELECT count(*)::int AS n FROM ids WHERE id = ANY($1::int[])", [committed]); // prettier-ignore
                        expect(rows[0].n, `ids on the restored ${node}`).toBe(committed.length);
                    }, WAIT);
                }
            } finally {
                await copy.disposeWithBackups();
            }
            const [{ timeline }] = await query(
                urls["pg-1"],
                "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS timeline",
            );
            // The archive holds the new timelines' history files: what a restore follows.
            const archive = JSON.parse(
                await docker("exec", "-u", "postgres", stack.container("pg-1"), "pgbackrest", "repo-ls", "--recurse", "--output=json", "archive/pgtopo"), // prettier-ignore
            ) as Record<string, unknown>;
            const histories = Object.keys(archive).filter((name) => name.endsWith(".history"));
            expect(histories.length).toBe(Number(timeline) - 1);
        });

        it("adds a standby restored from the repository, across timelines: the primary is not read, the archive then streaming bring it up to date", async () => {
            // The newest backup is the first one, two timelines ago (switchover, failover).
            await query(urls["pg-1"], "CREATE TABLE after_backup AS SELECT generate_series(1, 5000) AS id");
            const [port] = await freePorts(1);
            const grown: ClusterSpec = {
                ...spec,
                nodes: [...spec.nodes, { name: "pg-3", port }],
                backup: { ...spec.backup, standbysFrom: "repository" },
            };
            await stack.configure(grown);
            await stack.timedUp("a third node restored from the repository");
            // What the clone step printed, as the stack's state recorded it.
            const { deployment } = await stack.stack.exportStack();
            const clone = deployment.resources.find((r: { urn: string }) => r.urn.endsWith("::pgtopo-pg-3-bootstrap"));
            expect(clone.outputs.stdout).toMatch(/pgtopo\[pg-3\]: restoring backup \d{8}-\d{6}F from the repository/);
            expect(clone.outputs.stdout).not.toContain("cloning from");
            const grownUrls = await stack.connectionStrings();
            await vi.waitFor(async () => {
                const [row] = await query(grownUrls["pg-3"], "SELECT count(*)::int AS n FROM after_backup");
                expect(row.n).toBe(5000);
            }, WAIT);
            // Then it streams from the primary through its slot, and sees a new write.
            const [sender] = await query(
                urls["pg-1"],
                "SELECT r.state, s.slot_name FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE r.application_name = 'pg-3'",
            );
            expect(sender).toEqual({ state: "streaming", slot_name: "pgtopo_pg_3" });
            await query(urls["pg-1"], "INSERT INTO after_backup VALUES (0)");
            await vi.waitFor(async () => {
                const [row] = await query(grownUrls["pg-3"], "SELECT count(*)::int AS n FROM after_backup");
                expect(row.n).toBe(5001);
            }, WAIT);
            await stack.configure(spec);
            await stack.up();
        });

        it("npm run backup takes another backup now; retention expires the oldest full ones", async () => {
            for (const type of ["diff", "full", "full"]) {
                await docker("exec", backsUp(), "pgtopo-backup", type);
            }
            const types = (await info("pg-1")).backup.map((b) => b.type);
            // retention full: 2 keeps the two newest full backups (and what depends on them).
            expect(types).toEqual(["full", "full"]);
        });

        it("restores a new stack to a point in time: every row committed before it, none after, DROP TABLE undone", async () => {
            await query(urls["pg-1"], "CREATE TABLE pitr (id int PRIMARY KEY)");
            await query(urls["pg-1"], "INSERT INTO pitr SELECT generate_series(1, 100)");
            await new Promise((r) => setTimeout(r, 1100));
            const [{ t }] = await query<{ t: Date }>(urls["pg-1"], "SELECT now() AS t");
            await new Promise((r) => setTimeout(r, 1100));
            await query(urls["pg-1"], "INSERT INTO pitr SELECT generate_series(101, 200)");
            await query(urls["pg-1"], "DROP TABLE pitr");
            await query(urls["pg-1"], "SELECT pg_switch_wal()");
            await check("pg-1");

            const ports = await freePorts(2);
            const copy = await TestStack.create("rt");
            const nodes = [
                { name: "pg-1", port: ports[0] },
                { name: "pg-2", port: ports[1] },
            ];
            try {
                // From an object store, the new stack names the store as its own repository too;
                // from a repository host, it has one of its own, which reads the source's volume.
                const backup = kind === "volume" ? {} : { backup: repositoryKind() };
                // A time before the first backup is refused, naming what can be restored.
                await copy.configure({ primary: "pg-1", nodes, ...backup, restore: { fromStack: stack.name, target: "2000-01-01T00:00:00Z" } }); // prettier-ignore
                await expect(copy.up()).rejects.toThrow(
                new RegExp(`pgtopo:restore.target: "2000-01-01T00:00:00.000Z" is outside what can be restored: stack ${stack.name}'s backups reach from`),
            ); // prettier-ignore
                expect(await docker("ps", "-aq", "--filter", `label=pgtopo.stack=${copy.name}`)).toBe("");

                await copy.configure({ primary: "pg-1", nodes, ...backup, restore: { fromStack: stack.name, target: t.toISOString() } }); // prettier-ignore
                await copy.timedUp(`restore to ${t.toISOString()} into a new 1 + 1 stack`);
                const copyUrls = await copy.connectionStrings();
                for (const node of ["pg-1", "pg-2"]) {
                    await vi.waitFor(async () => {
                        const [row] = await query(
                            copyUrls[node],
                            "SELECT count(*)::int AS n, min(id) AS lo, max(id) AS hi FROM pitr",
                        );
                        expect(row, `the restored ${node}`).toEqual({ n: 100, lo: 1, hi: 100 });
                    }, WAIT);
                }
                // The restored cluster takes this stack's passwords, and its own writes.
                await query(copyUrls["pg-1"], "INSERT INTO pitr VALUES (1000)");
            } finally {
                await copy.disposeWithBackups();
            }
        });

        it("status shows the backups, and calls archiving that fails unhealthy until it works again", async () => {
            const healthy = await status(stack.name);
            expect(healthy.stdout).toMatch(/backups:\n {2}last full backup: \d{8}-\d{6}F, \d+ min ago\n/);
            expect(healthy.stdout).toMatch(/ {2}WAL archived up to [0-9A-F]{24}/);
            expect(healthy.stdout).toMatch(/ {2}recoverable: from \S+ to \S+/);
            expect(healthy.code).toBe(0);

            if (kind !== "s3") {
                // The repository's archive made unwritable (where it is: the repository host's
                // container, or the volume every node mounts): the next segment cannot be archived.
                const archive = "/var/lib/pgbackrest/archive/pgtopo";
                await docker("exec", backsUp(), "chmod", "-R", "a-w", archive);
                try {
                    await query(urls["pg-1"], "CREATE TABLE more AS SELECT 1 AS x");
                    await query(urls["pg-1"], "SELECT pg_switch_wal()");
                    await vi.waitFor(async () => {
                        const failing = await status(stack.name);
                        expect(failing.stdout).toMatch(/archiving fails on pg-1: [0-9A-F]{24} could not be archived/);
                        expect(failing.code).toBe(1);
                    }, WAIT);
                } finally {
                    await docker("exec", backsUp(), "chmod", "-R", "u+w", archive);
                }
            } else {
                // The store off the network: status names it at once (pgBackRest's own attempt
                // to archive fails only after its retries, minutes later).
                await store!.cut();
                try {
                    await query(urls["pg-1"], "CREATE TABLE more AS SELECT 1 AS x");
                    await query(urls["pg-1"], "SELECT pg_switch_wal()");
                    const failing = await status(stack.name);
                    expect(failing.stdout).toContain(`the backup repository (https://${store!.s3.endpoint}/${store!.s3.bucket}/pgtopo/${stack.name}) cannot be read`); // prettier-ignore
                    expect(failing.code).toBe(1);
                } finally {
                    await store!.restore();
                }
            }
            // PostgreSQL retries (after three failures in a row, once a minute): once the segment
            // is archived, status is healthy again.
            await vi.waitFor(async () => expect((await status(stack.name)).code).toBe(0), {
                timeout: 120_000,
                interval: 2000,
            });
        });

        it("takes scheduled backups on whichever node is primary", async () => {
            // Retention keeps the number of full backups at 2: a new one shows as a new newest label.
            const newest = async () => (await info("pg-1")).backup.at(-1)?.label;
            const before = await newest();
            await stack.configure({ ...spec, backup: { ...spec.backup, schedule: "* * * * *" } });
            await stack.timedUp("backup schedule every minute");
            await vi.waitFor(async () => expect(await newest()).not.toBe(before), {
                timeout: 150_000,
                interval: 2000,
            });
            // The standby's cron ran too, and did nothing: backups come from the primary only
            // (with a repository host, from the repository's own cron: no node's ran one).
            const standbyLog = await docker("logs", "--since", "3m", stack.container("pg-2"));
            expect(standbyLog).not.toContain("backup done");
            if (kind === "host") {
                expect(await docker("logs", "--since", "3m", stack.container("pg-1"))).not.toContain("backup done");
                expect(await docker("logs", "--since", "3m", backsUp())).toMatch(/full backup done from/);
            }
        });

        it("keeps the repository when the stack is destroyed", async () => {
            await stack.destroy();
            expect((await objectsOfStack(stack.name)).volumes).toEqual([]);
            if (kind !== "s3") {
                expect(await docker("volume", "ls", "-q", "--filter", `label=pgtopo.backups=${stack.name}`)).toBe(
                    `pgtopo-${stack.name}-backups`,
                );
            } else {
                // Still in the store, under the stack's prefix, as a restore would read it.
                const backup = parseClusterConfig({
                    primary: "pg-1",
                    nodes: spec.nodes,
                    backup: { s3: store!.s3 },
                }).backup!;
                const environment = { ...repositoryEnvironment(backup, stack.name), ...repositorySecrets(backup) };
                const window = await readRepository({ kind: "s3", environment, where: "the test store" }, NODE_IMAGE);
                expect(window).toMatchObject({ from: { time: expect.any(Date) }, to: { time: expect.any(Date) } });
            }
        });
    },
);

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker, inVolumeOf as inVolume } from "../support/docker";
import { query } from "../support/postgres";
import { cascadeOfFour, freePorts, TestStack, type ClusterSpec } from "../support/stack";
import { status } from "../support/status";
import { RecordingWriter } from "../support/writer";

/**
 * Issue 10's acceptance: a plain `pulumi up` (no refresh) brings the cluster back from the
 * ways replication clusters really break, none of which pgtopo made: a container killed or
 * removed, a slot dropped, lost or left behind, a standby promoted by hand, pointed at the
 * wrong node, or left behind on an old timeline. Cascade two deep (pg-1 -> pg-2 -> pg-3,
 * and pg-4 straight from pg-1); a writer records every commit on the primary while the
 * cluster breaks and is repaired, and every recorded id must be on every node afterwards.
 * After each repair `npm run status` exits 0, and the next `up` changes nothing.
 */
describe("a plain up converges from drift", () => {
    let stack: TestStack;
    let urls: Record<string, string>;
    let spec: ClusterSpec;
    const all = ["pg-1", "pg-2", "pg-3", "pg-4"];
    const WAIT = { timeout: 60_000, interval: 250 };
    const upstreams: Record<string, string> = { "pg-2": "pg-1", "pg-3": "pg-2", "pg-4": "pg-1" };

    /** What the client sees: only the configured primary is written to; each writer has its own ids. */
    let writers = 0;
    const writer = () =>
        new RecordingWriter({ [spec.primary]: urls[spec.primary] }, "ids", 300, ++writers * 1_000_000).start();

    async function someCommits(w: RecordingWriter, count = 20): Promise<void> {
        const before = w.committed.length;
        await vi.waitFor(() => expect(w.committed.length).toBeGreaterThanOrEqual(before + count), WAIT);
    }

    async function expectEveryId(ids: number[]): Promise<void> {
        for (const node of all) {
            await vi.waitFor(async () => {
                const rows = await query<{ n: number }>(
                    urls[node],
                    "SELECT count(*)::int AS n FROM ids WHERE id = ANY($1::int[])",
                    [ids],
                );
                expect(rows[0].n, `committed ids on ${node}`).toBe(ids.length);
            }, WAIT);
        }
    }

    async function expectLayout(primary: string, standbys: Record<string, string>): Promise<void> {
        const [p] = await query(urls[primary], "SELECT pg_is_in_recovery() AS r");
        expect(p.r, `${primary} is the primary`).toBe(false);
        for (const [node, upstream] of Object.entries(standbys)) {
            await vi.waitFor(async () => {
                const [row] = await query(
                    urls[node],
                    "SELECT pg_is_in_recovery() AS standby, (SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming') AS upstream",
                );
                expect(row, node).toEqual({ standby: true, upstream });
            }, WAIT);
        }
    }

    /** The repair: a plain up; then everything as configured, status healthy, and a next up that changes nothing. */
    async function repairWithPlainUp(label: string): Promise<string> {
        const up = await stack.timedUp(label);
        const said = up.outputs.lastTransition.value as string;
        console.log(`[repair] ${label}\n${said}`);
        await expectLayout(spec.primary, upstreams);
        const healthy = await status(stack.name);
        expect(healthy.stdout).toContain("healthy: everything runs as configured");
        expect(healthy.code).toBe(0);
        const again = await stack.up();
        expect(Object.keys(again.summary.resourceChanges ?? {}), "the up after a repair").toEqual(["same"]);
        return said;
    }

    const inVolumeOf = (node: string, script: string) => inVolume(stack.name, node, script);

    beforeAll(async () => {
        const ports = await freePorts(4);
        stack = await TestStack.create("dr");
        spec = {
            primary: "pg-1",
            nodes: cascadeOfFour(ports),
            // Small enough that a test can make a slot lose its WAL in seconds.
            parameters: { max_slot_wal_keep_size: "48MB", wal_keep_size: "0" },
        };
        await stack.configure(spec);
        await stack.timedUp("drift: 1 + 3 with a cascade, cold");
        urls = await stack.connectionStrings();
        await query(urls["pg-1"], "CREATE TABLE ids (id int PRIMARY KEY)");
    });

    afterAll(async () => {
        if (stack && !process.env.PGTOPO_KEEP_STACK) await stack.dispose();
    });

    it("restarts killed standbys, the cascade's middle one included", async () => {
        const w = writer();
        await someCommits(w);
        await docker("kill", stack.container("pg-2"));
        await docker("kill", stack.container("pg-3"));
        await someCommits(w);
        // The preview says, node by node, what the up will repair.
        const preview = await stack.stack.preview({ color: "never" });
        expect(preview.stdout).toContain(
            "pgtopo: pg-2: its container is stopped; its data is a standby's: start it as it is",
        );
        expect(preview.stdout).toContain(
            "pgtopo: pg-3: its container is stopped; its data is a standby's: start it as it is",
        );
        const said = await repairWithPlainUp("drift: pg-2 and pg-3 killed");
        expect(said).toContain("pg-2: its container is stopped; its data is a standby's: start it as it is");
        expect(said).toContain("pg-3 started; it streams from pg-2");
        await w.stop();
        await expectEveryId(w.committed);
    });

    it("recreates a standby whose container was removed, on its volume, without a new clone", async () => {
        const w = writer();
        await someCommits(w);
        // A file only this data directory has: a clone would be a new copy without it.
        await docker("exec", stack.container("pg-2"), "touch", "/var/lib/postgresql/data/pgdata/drift-marker");
        await docker("rm", "-f", stack.container("pg-2"));
        const said = await repairWithPlainUp("drift: pg-2's container removed");
        expect(said).not.toContain("cloning it afresh");
        expect(
            await docker("exec", stack.container("pg-2"), "ls", "/var/lib/postgresql/data/pgdata/drift-marker"),
        ).toBe("/var/lib/postgresql/data/pgdata/drift-marker");
        await w.stop();
        await expectEveryId(w.committed);
    });

    it("re-creates a slot dropped by hand, and drops one that nobody consumes", async () => {
        const w = writer();
        await someCommits(w);
        await docker("exec", stack.container("pg-2"), "pgtopo-slot", "drop", "pgtopo_pg_3");
        await query(urls["pg-1"], "SELECT pg_create_physical_replication_slot('pgtopo_ghost')");
        const said = await repairWithPlainUp("drift: pg-3's slot dropped, a stray pgtopo slot on pg-1");
        expect(said).toContain("pg-3: its slot pgtopo_pg_3 is missing on pg-2: create the slot");
        expect(said).toContain("slot pgtopo_ghost dropped from pg-1");
        const slots = await query(urls["pg-1"], "SELECT slot_name FROM pg_replication_slots ORDER BY 1");
        expect(slots.map((s) => s.slot_name)).toEqual(["pgtopo_pg_2", "pgtopo_pg_4"]);
        await w.stop();
        await expectEveryId(w.committed);
    });

    it("re-clones a standby whose slot lost the WAL it needs, without keeping its old copy", async () => {
        const w = writer();
        await someCommits(w);
        // pg-3 down while its upstream writes more WAL than max_slot_wal_keep_size (48MB).
        await docker("stop", stack.container("pg-3"));
        await query(urls["pg-1"], "CREATE TABLE filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 200000) g"); // prettier-ignore
        await query(urls["pg-1"], "CHECKPOINT");
        await vi.waitFor(async () => {
            // The restartpoint on pg-2 is what invalidates pg-3's slot there.
            await query(urls["pg-2"], "CHECKPOINT");
            const [slot] = await query(urls["pg-2"], "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'pgtopo_pg_3'"); // prettier-ignore
            expect(slot?.wal_status).toBe("lost");
        }, WAIT);
        // Started by hand, it loops on "requested WAL segment ... has already been removed".
        await docker("start", stack.container("pg-3"));
        const said = await repairWithPlainUp("drift: pg-3's slot lost");
        expect(said).toContain("pg-3: its slot pgtopo_pg_3 on pg-2 is lost");
        expect(said).toContain("pg-3 cannot stream from pg-2 with the data it has: cloning it afresh");
        expect(said).not.toContain("diverged data is kept");
        expect(await inVolumeOf("pg-3", "ls /var/lib/postgresql/data")).toBe("pgdata");
        await query(urls["pg-1"], "DROP TABLE filler");
        await w.stop();
        await expectEveryId(w.committed);
    });

    it("re-clones a standby whose volume lost its data directory; meanwhile it waits instead of starting an empty cluster", async () => {
        const w = writer();
        await someCommits(w);
        await docker("stop", stack.container("pg-3"));
        await inVolumeOf("pg-3", "rm -rf /var/lib/postgresql/data/pgdata");
        await docker("start", stack.container("pg-3"));
        await vi.waitFor(async () => {
            expect(await docker("logs", stack.container("pg-3"))).toContain(
                "holds no data directory: waiting for 'pulumi up'",
            );
        }, WAIT);
        expect(await inVolumeOf("pg-3", "ls /var/lib/postgresql/data")).not.toContain("pgdata");
        // Long enough that the entrypoint's words are older than the converge step's look at its log.
        await new Promise((r) => setTimeout(r, 21_000));
        const said = await repairWithPlainUp("drift: pg-3's data directory lost");
        expect(said).toContain("pg-3: its volume holds no data directory (lost outside pgtopo)");
        expect(said).toContain("pg-3 rejoined as a standby of pg-2, re-cloned");
        await w.stop();
        await expectEveryId(w.committed);
    });

    it("re-points a standby told to stream from the wrong node, through no slot", async () => {
        const w = writer();
        await someCommits(w);
        await query(
            urls["pg-3"],
            "ALTER SYSTEM SET primary_conninfo = 'host=pg-1 port=5432 user=replicator application_name=pg-3 passfile=/var/lib/postgresql/.pgpass'",
        );
        await query(urls["pg-3"], "ALTER SYSTEM SET primary_slot_name = ''");
        await query(urls["pg-3"], "SELECT pg_reload_conf()");
        await vi.waitFor(async () => {
            const [row] = await query(urls["pg-3"], "SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'"); // prettier-ignore
            expect(row?.sender_host).toBe("pg-1");
        }, WAIT);
        const said = await repairWithPlainUp("drift: pg-3 pointed at pg-1 without its slot");
        expect(said).toContain(
            "pg-3: it is told to stream from pg-1 through no slot, not from pg-2 through pgtopo_pg_3: re-point it",
        );
        await w.stop();
        await expectEveryId(w.committed);
    });

    it("fences and rewinds a standby promoted by hand, and the standby that followed it, keeping the WAL they discard", async () => {
        const w = writer();
        await someCommits(w);
        // pg_rewind starts from the last checkpoint both sides share, and reads the WAL from
        // there: make it a recent one that pg-2 still has (this cluster keeps little WAL).
        await query(urls["pg-1"], "CHECKPOINT");
        const [{ lsn }] = await query(urls["pg-1"], "SELECT pg_current_wal_lsn()::text AS lsn");
        await vi.waitFor(async () => {
            const [row] = await query(urls["pg-2"], "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done", [lsn]);
            expect(row.done).toBe(true);
        }, WAIT);
        await query(urls["pg-2"], "CHECKPOINT");
        // pg-2 promoted outside pgtopo: two nodes accept writes; pg-3 follows pg-2 onto its new timeline.
        await query(urls["pg-2"], "SELECT pg_promote()");
        await query(urls["pg-2"], "INSERT INTO ids VALUES (-2)"); // a write only pg-2 (and pg-3) will have had
        await vi.waitFor(async () => {
            const [row] = await query(urls["pg-3"], "SELECT count(*)::int AS n FROM ids WHERE id = -2");
            expect(row.n).toBe(1);
        }, WAIT);
        const before = await status(stack.name);
        expect(before.stdout).toContain("more than one node accepts writes");
        await someCommits(w);

        const said = await repairWithPlainUp("drift: pg-2 promoted by hand, pg-3 following it");
        expect(said).toContain("pg-2: it accepts writes but must be a standby");
        expect(said).toMatch(/pg-2\]: rewound onto pg-1's timeline; its WAL from \S+ \(timeline \d+\) through segment \w+, which pg-1 does not have, is kept at \S+-wal/); // prettier-ignore
        expect(said).toContain("pg-3 rejoined as a standby of pg-2");
        // The write only pg-2 had is gone from the cluster, and kept: its WAL is in pg-2's volume.
        const [gone] = await query(urls["pg-1"], "SELECT count(*)::int AS n FROM ids WHERE id = -2");
        expect(gone.n).toBe(0);
        const kept = await inVolumeOf("pg-2", "cat /var/lib/postgresql/data/pgdata.diverged-*-wal/DIVERGED.txt");
        expect(kept).toMatch(/^WAL of pg-2 from \S+ \(timeline \d+\) through segment \w+, which pg-1 did not have/);
        const notes = await status(stack.name);
        expect(notes.stdout).toMatch(/note: pg-2 keeps the WAL a rewind discarded: pgdata\.diverged-\w+-wal/);
        await w.stop();
        await expectEveryId(w.committed);
    });

    it("rewinds a standby left on an old timeline, past the fork, after a failover done by hand", async () => {
        // Everything recorded so far reaches every node before the hand failover, which
        // (being by hand, to a standby that was held back) loses what came after.
        const w = writer();
        await someCommits(w);
        await w.stop();
        await expectEveryId(w.committed);

        // pg-2 cut off from pg-1 (its WAL receiver stopped) while pg-1 writes more, which
        // pg-4 receives; then pg-1 dies and the operator promotes pg-2 by hand and says so
        // in the config. pg-1 and pg-4 now hold WAL past the point where pg-2's timeline forks.
        await query(urls["pg-2"], "ALTER SYSTEM SET primary_conninfo = ''");
        await query(urls["pg-2"], "SELECT pg_reload_conf()");
        await vi.waitFor(async () => {
            const [row] = await query(urls["pg-2"], "SELECT count(*)::int AS n FROM pg_stat_wal_receiver");
            expect(row.n).toBe(0);
        }, WAIT);
        await query(urls["pg-1"], "INSERT INTO ids SELECT -g FROM generate_series(100, 150) g");
        await vi.waitFor(async () => {
            const [row] = await query(urls["pg-4"], "SELECT count(*)::int AS n FROM ids WHERE id <= -100");
            expect(row.n).toBe(51);
        }, WAIT);
        await docker("kill", stack.container("pg-1"));
        await query(urls["pg-2"], "SELECT pg_promote()");
        spec = { ...spec, primary: "pg-2", nodes: spec.nodes.map((n) => ({ name: n.name, port: n.port })) };
        spec.nodes.find((n) => n.name === "pg-3")!.upstream = "pg-2";
        Object.assign(upstreams, { "pg-1": "pg-2", "pg-3": "pg-2", "pg-4": "pg-2" });
        delete upstreams["pg-2"];
        await stack.configure(spec);

        const next = writer();
        await someCommits(next);
        const said = await repairWithPlainUp("drift: failover by hand, pg-4 past the fork on the old timeline");
        expect(said).toContain("pg-1: it may hold a primary's data");
        expect(said).toMatch(/pg-1\]: rewound onto pg-2's timeline; its WAL from .* is kept at \S+-wal/);
        expect(said).toContain("pg-4: its WAL went past the point where pg-2's timeline forked");
        expect(said).toMatch(/pg-4\]: rewound onto pg-2's timeline; its WAL from .* is kept at \S+-wal/);
        expect(said).not.toContain("cloning it afresh");
        // The rows only pg-1 and pg-4 had are not in the cluster now; their WAL is kept.
        const [lost] = await query(urls["pg-2"], "SELECT count(*)::int AS n FROM ids WHERE id <= -100");
        expect(lost.n).toBe(0);
        await next.stop();
        await expectEveryId([...w.committed, ...next.committed]);
    });
    it("fails over in tree order: the lost primary rejoins under a standby that is re-pointed first", async () => {
        // Now pg-2 is primary and pg-1, pg-3, pg-4 stream from it. pg-2 dies; the new
        // config promotes pg-4 and puts pg-2 under pg-1, which still follows pg-2 until
        // it is re-pointed. Upstreams first: pg-1 follows pg-4 before pg-2 is rewound
        // and pointed at it, so a rewind is all pg-2 needs, not a re-clone after a wait.
        const w = writer();
        await someCommits(w);
        await w.stop();
        await expectEveryId(w.committed);
        await docker("kill", stack.container("pg-2"));
        spec = {
            ...spec,
            primary: "pg-4",
            nodes: spec.nodes.map((n) => ({
                name: n.name,
                port: n.port,
                upstream: n.name === "pg-2" || n.name === "pg-3" ? "pg-1" : undefined,
            })),
        };
        for (const key of Object.keys(upstreams)) delete upstreams[key];
        Object.assign(upstreams, { "pg-1": "pg-4", "pg-2": "pg-1", "pg-3": "pg-1" });
        await stack.configure(spec);

        const said = await repairWithPlainUp("failover to pg-4, the lost pg-2 rejoining under pg-1");
        expect(said).toMatch(/^\[\+[\d.]+s\] pgtopo: failover: no node accepts writes; pg-4 will be promoted/);
        expect(said.indexOf("re-pointing to pg-4")).toBeLessThan(
            said.indexOf("fencing pg-2") >= 0 ? said.indexOf("fencing pg-2") : said.indexOf("pg-2: it may hold"),
        );
        expect(said).toContain("pg-2 rejoined as a standby of pg-1");
        expect(said).not.toContain("cloning it afresh");
        const next = writer();
        await someCommits(next);
        await next.stop();
        await expectEveryId([...w.committed, ...next.committed]);
    });
});

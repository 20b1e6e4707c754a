import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker, inVolumeOf as inVolume, killMatching } from "../support/docker";
import { query } from "../support/postgres";
import { bringUp, cascadeOfThree, TestStack, type ClusterSpec } from "../support/stack";
import { status } from "../support/status";
import { RecordingWriter } from "../support/writer";

/**
 * Issue 4's acceptance: changing pgtopo:primary moves the primary, planned (old primary
 * healthy) or not (old primary killed), with no committed write lost, every standby
 * following, and the old primary back as a read-only standby.
 */

describe("switchover and failover by changing pgtopo:primary", () => {
    let stack: TestStack;
    let urls: Record<string, string>;
    let spec: ClusterSpec;
    const WAIT = { timeout: 60_000, interval: 250 };
    const all = ["pg-1", "pg-2", "pg-3"];

    const setPrimary = async (primary: string, upstreams: Record<string, string | undefined> = {}) => {
        spec = {
            ...spec,
            primary,
            nodes: spec.nodes.map((n) => ({ name: n.name, port: n.port, upstream: upstreams[n.name] })),
        };
        await stack.configure(spec);
    };

    async function role(node: string): Promise<{ standby: boolean; upstream: string | null }> {
        const [row] = await query<{ standby: boolean; upstream: string | null }>(
            urls[node],
            "SELECT pg_is_in_recovery() AS standby, (SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming') AS upstream",
        );
        return row;
    }

    async function expectLayout(primary: string, upstreams: Record<string, string>): Promise<void> {
        expect(await role(primary)).toEqual({ standby: false, upstream: null });
        for (const [node, upstream] of Object.entries(upstreams)) {
            await vi.waitFor(async () => expect(await role(node), node).toEqual({ standby: true, upstream }), WAIT);
            await expect(query(urls[node], "INSERT INTO ids VALUES (-1)"), node).rejects.toThrow(
                /read-only transaction/,
            );
        }
    }

    async function expectEveryId(ids: number[]): Promise<void> {
        for (const node of all) {
            await vi.waitFor(async () => {
                const rows = await query<{ id: number }>(urls[node], "SELECT id FROM ids WHERE id = ANY($1::int[])", [
                    ids,
                ]);
                expect(rows.length, `committed ids on ${node}`).toBe(ids.length);
            }, WAIT);
        }
    }

    const inVolumeOf = (node: string, script: string) => inVolume(stack.name, node, script);

    beforeAll(async () => {
        ({ stack, spec, urls } = await bringUp("sw", 3, (ports) => ({ primary: "pg-1", nodes: cascadeOfThree(ports) }), "1 + 2 layout, cold")); // prettier-ignore
        await query(urls["pg-1"], "CREATE TABLE ids (id int PRIMARY KEY)");
    });

    afterAll(async () => {
        // PGTOPO_KEEP_STACK=1 leaves the cluster up for a post-mortem of a failure.
        if (stack && !process.env.PGTOPO_KEEP_STACK) await stack.dispose();
    });

    it("switches over A -> B -> A under continuous writes without losing a committed write", async () => {
        const writer = new RecordingWriter(urls, "ids").start();
        await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(20), WAIT);

        await setPrimary("pg-2", { "pg-3": "pg-2" });
        const preview = await stack.stack.preview({ color: "never" });
        expect(preview.stdout).toContain("pgtopo: switchover: pg-1 will be fenced (stopped cleanly), pg-2 promoted");
        const toB = await stack.timedUp("switchover pg-1 -> pg-2");
        expect(toB.outputs.primary.value).toBe("pg-2");
        expect(toB.outputs.lastTransition.value).toContain("switchover: pg-1 will be fenced");
        console.log(`[transition]\n${toB.outputs.lastTransition.value}`);
        // A clean shutdown whose last WAL the new primary has: nothing to rewind.
        expect(toB.outputs.lastTransition.value).toContain("pg-1 rejoined as a standby of pg-2 without a rewind");
        // A promotion starts a new timeline; the rejoined old primary is on it too.
        expect(toB.outputs.timelines.value).toMatchObject({ "pg-1": 2, "pg-2": 2 });
        await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(40), WAIT);
        await expectLayout("pg-2", { "pg-1": "pg-2", "pg-3": "pg-2" });

        await setPrimary("pg-1", { "pg-3": "pg-2" });
        await stack.timedUp("switchover pg-2 -> pg-1");
        const before = writer.committed.length;
        await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(before + 20), WAIT);
        await writer.stop();
        console.log(`[timing] longest write gap seen by the client over two switchovers: ${writer.maxGapMs} ms`);

        await expectLayout("pg-1", { "pg-2": "pg-1", "pg-3": "pg-2" });
        await expectEveryId(writer.committed);
    });

    it("finishes a switchover interrupted mid-way (orchestrator and CLI killed) on the next up", async () => {
        await setPrimary("pg-2", { "pg-3": "pg-2" });
        const interrupted = stack.up().then(
            () => "finished",
            () => "failed",
        );
        // The moment the old primary is fenced (stopped), kill everything that drives the switchover.
        await vi.waitFor(
            async () =>
                expect(await docker("container", "inspect", "-f", "{{.State.Running}}", stack.container("pg-1"))).toBe(
                    "false",
                ),
            { timeout: 120_000, interval: 50 },
        );
        await killMatching("scripts/converge.ts", stack.name);
        await killMatching(`pulumi.* up .*--stack ${stack.name}`, stack.name);
        expect(await interrupted).toBe("failed");
        // A killed CLI leaves the state lock behind (and may leave an empty metadata file);
        // clearing them is the user's call (`scripts/pulumi.sh cancel`).
        await stack.cancelAfterKill();

        await stack.timedUp("finish the interrupted switchover");
        await expectLayout("pg-2", { "pg-1": "pg-2", "pg-3": "pg-2" });
        await query(urls["pg-2"], "INSERT INTO ids VALUES (50000)");
        await expectEveryId([50000]);

        await setPrimary("pg-1", { "pg-3": "pg-2" });
        await stack.up();
        await expectLayout("pg-1", { "pg-2": "pg-1", "pg-3": "pg-2" });
    });

    it("switches over to a cascaded standby (pg-1 -> pg-2 -> pg-3, promote pg-3)", async () => {
        await setPrimary("pg-3");
        await stack.timedUp("switchover to cascaded pg-3");
        await expectLayout("pg-3", { "pg-1": "pg-3", "pg-2": "pg-3" });
        await query(urls["pg-3"], "INSERT INTO ids VALUES (100000)");
        await expectEveryId([100000]);
    });

    it("fails over when the primary is killed, and the old primary comes back read-only, following", async () => {
        await query(urls["pg-3"], "INSERT INTO ids VALUES (200000)");
        await expectEveryId([200000]);
        await docker("kill", stack.container("pg-3"));

        await setPrimary("pg-1");
        const failover = await stack.timedUp("failover to pg-1 after docker kill of pg-3");
        expect(failover.outputs.lastTransition.value).toContain(
            "failover: no node accepts writes; pg-1 will be promoted",
        );
        await expectLayout("pg-1", { "pg-2": "pg-1", "pg-3": "pg-1" });

        // Seed 000, checks 4 and 5: writes on the new primary reach every standby.
        await query(urls["pg-1"], "INSERT INTO ids VALUES (300000)");
        await expectEveryId([200000, 300000]);

        // The old primary's container started again (a restart): still a standby.
        await docker("restart", stack.container("pg-3"));
        await expectLayout("pg-1", { "pg-3": "pg-1" });
    });

    it("refuses a failover to a standby far behind another, and changes nothing", async () => {
        // Cut pg-3 off from WAL, write more than maxLagOnFailover, lose the primary.
        await query(urls["pg-3"], "ALTER SYSTEM SET primary_conninfo = ''");
        await query(urls["pg-3"], "SELECT pg_reload_conf()");
        await vi.waitFor(async () => expect((await role("pg-3")).upstream).toBeNull(), WAIT);
        await query(urls["pg-1"], "INSERT INTO ids SELECT g FROM generate_series(400000, 460000) g");
        await docker("stop", stack.container("pg-1"));

        await setPrimary("pg-3");
        await expect(stack.up()).rejects.toThrow(/pgtopo:primary: "pg-3" is \d+ bytes behind "pg-2"/);
        expect((await role("pg-3")).standby).toBe(true);
        expect((await role("pg-2")).standby).toBe(true);

        // The one that has every transaction can be promoted.
        await setPrimary("pg-2");
        await stack.timedUp("failover to the most advanced standby pg-2");
        await expectLayout("pg-2", { "pg-1": "pg-2", "pg-3": "pg-2" });
        const [{ n }] = await query<{ n: number }>(
            urls["pg-3"],
            "SELECT count(*)::int AS n FROM ids WHERE id >= 400000",
        );
        expect(n).toBe(60001);
    });

    it("when overridden, promotes the lagging standby and rewinds the one that was ahead", async () => {
        await query(urls["pg-3"], "ALTER SYSTEM SET primary_conninfo = ''");
        await query(urls["pg-3"], "SELECT pg_reload_conf()");
        await vi.waitFor(async () => expect((await role("pg-3")).upstream).toBeNull(), WAIT);
        await query(urls["pg-2"], "INSERT INTO ids SELECT g FROM generate_series(600000, 660000) g");
        await vi.waitFor(async () => {
            const [{ n }] = await query<{ n: number }>(
                urls["pg-1"],
                "SELECT count(*)::int AS n FROM ids WHERE id >= 600000",
            );
            expect(n).toBe(60001);
        }, WAIT);
        await docker("stop", stack.container("pg-2"));

        await setPrimary("pg-3");
        await stack.stack.setConfig("pgtopo:maxLagOnFailover", { value: "1073741824" });
        const forced = await stack.timedUp("failover to the lagging pg-3, overridden");
        await stack.stack.removeConfig("pgtopo:maxLagOnFailover");
        expect(forced.outputs.lastTransition.value).toContain(
            "failover: no node accepts writes; pg-3 will be promoted",
        );
        expect(forced.outputs.lastTransition.value).toContain("pg-1 rejoined as a standby of pg-3 after pg_rewind");
        await expectLayout("pg-3", { "pg-1": "pg-3", "pg-2": "pg-3" });
        // What only the others had is gone, as the override said it would be; new writes flow.
        const [{ n }] = await query<{ n: number }>(
            urls["pg-1"],
            "SELECT count(*)::int AS n FROM ids WHERE id >= 600000",
        );
        expect(n).toBe(0);
        await query(urls["pg-3"], "INSERT INTO ids VALUES (700000)");
        await expectEveryId([700000]);
    });

    it("re-clones an old primary that pg_rewind cannot rejoin, keeping its diverged data aside", async () => {
        await query(urls["pg-3"], "INSERT INTO ids VALUES (800000)");
        await expectEveryId([800000]);
        await docker("kill", stack.container("pg-3"));
        // Its WAL lost while it was down: crash recovery, and so pg_rewind, cannot run.
        await inVolumeOf("pg-3", 'find "$PGDATA/pg_wal" -maxdepth 1 -type f -name "0*" -delete');

        await setPrimary("pg-1");
        const failover = await stack.timedUp("failover to pg-1; pg-3 cannot be rewound, re-cloned");
        const said = failover.outputs.lastTransition.value as string;
        console.log(`[transition]\n${said}`);
        expect(said).toContain("pg-3 cannot rejoin pg-1 with its own data: cloning it afresh");
        expect(said).toMatch(
            /pg-3's diverged data is kept at \/var\/lib\/postgresql\/data\/pgdata\.diverged-\d{8}T\d{6}Z/,
        );
        expect(said).toContain("pg-3 rejoined as a standby of pg-1, re-cloned");
        await expectLayout("pg-1", { "pg-2": "pg-1", "pg-3": "pg-1" });

        // Nothing was deleted: the diverged directory is still in the volume, whole.
        const kept = await docker(
            "exec",
            stack.container("pg-3"),
            "sh",
            "-c",
            "ls -d /var/lib/postgresql/data/pgdata.diverged-*/PG_VERSION",
        );
        expect(kept.split("\n")).toHaveLength(1);
        // ... and `npm run status` says so, without calling the cluster unhealthy.
        await vi.waitFor(async () => {
            const report = await status(stack.name);
            expect(report.stdout).toMatch(
                /note: pg-3 keeps a diverged data directory from a re-clone: pgdata\.diverged-/,
            );
            expect(report.code).toBe(0);
        }, WAIT);
        await query(urls["pg-1"], "INSERT INTO ids VALUES (900000)");
        await expectEveryId([800000, 900000]);
    });

    it("recreates a primary whose container was removed on its volume, then switches over from it", async () => {
        await query(urls["pg-1"], "INSERT INTO ids VALUES (1000000)");
        await expectEveryId([1000000]);
        await docker("rm", "-f", stack.container("pg-1"));

        // A plain up (no refresh) sees the container gone and recreates it on its volume,
        // where it comes back as the primary it was; the change of primary is then a
        // switchover, which loses nothing, not a failover. No second primary at the end.
        await setPrimary("pg-2");
        const up = await stack.timedUp("primary's container removed, primary changed to pg-2");
        const said = up.outputs.lastTransition.value as string;
        console.log(`[transition]\n${said}`);
        expect(said).toMatch(/switchover: pg-1 will be fenced/);
        await expectLayout("pg-2", { "pg-1": "pg-2", "pg-3": "pg-2" });
        await query(urls["pg-2"], "INSERT INTO ids VALUES (1100000)");
        await expectEveryId([1000000, 1100000]);
    });

    it("finishes a re-clone cut off half-way (data moved aside, a partial clone left) on the next up", async () => {
        await query(urls["pg-2"], "INSERT INTO ids VALUES (1200000)");
        await expectEveryId([1200000]);
        // What a run killed during a re-clone leaves: the node stopped, its data directory
        // already moved aside, and a partial clone in the volume.
        await docker("stop", stack.container("pg-3"));
        await inVolumeOf("pg-3", 'mv "$PGDATA" "$PGDATA.diverged-20000101T000000Z" && mkdir "$PGDATA.partial"');

        await setPrimary("pg-1");
        const next = await stack.timedUp("switchover to pg-1 while pg-3 is half re-cloned");
        const said = next.outputs.lastTransition.value as string;
        console.log(`[transition]\n${said}`);
        expect(said).toContain("pg-3 cannot rejoin pg-1 with its own data: cloning it afresh");
        expect(said).toContain("pg-3 rejoined as a standby of pg-1, re-cloned");
        await expectLayout("pg-1", { "pg-2": "pg-1", "pg-3": "pg-1" });
        // The partial clone is gone; every directory set aside so far is still there.
        const left = await inVolumeOf("pg-3", "cd /var/lib/postgresql/data && ls -d pgdata*");
        expect(left.split("\n")).toEqual(expect.arrayContaining(["pgdata", "pgdata.diverged-20000101T000000Z"]));
        expect(left).not.toContain("pgdata.partial");
        await query(urls["pg-1"], "INSERT INTO ids VALUES (1300000)");
        await expectEveryId([1200000, 1300000]);
    });
});

import { readFileSync } from "node:fs";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { stackCaFile } from "../../contract/names";
import { docker, killMatching, NODE_IMAGE } from "../support/docker";
import { PoolApplication } from "../support/pool-app";
import { query } from "../support/postgres";
import { bringUp, cascadeOfThree, TestStack, type ClusterSpec } from "../support/stack";
import { status } from "../support/status";

/**
 * Issue 21's acceptance: pgtopo:endpoints gives a router (PgBouncer) whose rw listener
 * follows the primary and whose ro listener reaches the standbys, SCRAM end to end and
 * TLS; a switchover pauses the routers around the change of primary, so that a Pool
 * application writing throughout sees no error and loses nothing; a pause that cannot
 * finish abandons the switchover; a killed `up` leaves no router paused after the next;
 * router drift is repaired by a plain `up`.
 */
describe("pgtopo:endpoints: routers that follow the primary", () => {
    let stack: TestStack;
    let spec: ClusterSpec;
    let urls: Record<string, string>;
    let rw: string;
    let ro: string;
    const WAIT = { timeout: 60_000, interval: 250 };
    const router = () => `pgtopo-${stack.name}-router`;

    /** The node a connection string lands on (each node's host name is its name). */
    const nodeBehind = async (url: string) => {
        const [row] = await query<{ node: string; standby: boolean }>(
            url,
            "SELECT replace(pg_read_file('/etc/hostname'), E'\\n', '') AS node, pg_is_in_recovery() AS standby",
        );
        return row;
    };

    const routerState = async () =>
        JSON.parse(await docker("exec", router(), "pgtopo-router", "state")) as Record<
            "rw" | "ro",
            { running: boolean; paused?: boolean; target?: string | null; clients?: number; servers?: number }
        >;

    /** Sets pgtopo:primary, each node's upstream, and optionally other keys, in one config edit. */
    const setPrimary = async (
        primary: string,
        upstreams: Record<string, string | undefined> = {},
        more: Partial<ClusterSpec> = {},
    ) => {
        spec = {
            ...spec,
            ...more,
            primary,
            nodes: spec.nodes.map((n) => ({ name: n.name, port: n.port, upstream: upstreams[n.name] })),
        };
        await stack.configure(spec);
    };

    beforeAll(async () => {
        ({ stack, spec, urls } = await bringUp(
            "ep",
            5,
            (ports) => ({
                primary: "pg-1",
                nodes: cascadeOfThree(ports),
                tls: true,
                endpoints: { rw: { port: ports[3] }, ro: { port: ports[4] } },
            }),
            "1 + 2 with a router and TLS, cold",
        ));
        ({ rw, ro } = (await stack.endpoints()) as { rw: string; ro: string });
        await query(urls["pg-1"], "CREATE TABLE ids (id int PRIMARY KEY)");
    });

    afterAll(async () => {
        if (stack && !process.env.PGTOPO_KEEP_STACK) await stack.dispose();
    });

    it("reaches the primary on rw and a standby on ro, over SCRAM and TLS only, with no password in the clear", async () => {
        expect(rw).toMatch(/^postgresql:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres\?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=/); // prettier-ignore
        expect(await nodeBehind(rw)).toEqual({ node: "pg-1", standby: false });
        for (let i = 0; i < 4; i++) {
            const behind = await nodeBehind(ro);
            expect(behind.standby).toBe(true);
            expect(["pg-2", "pg-3"]).toContain(behind.node);
        }
        // Writes through rw, reads of them through ro.
        await query(rw, "INSERT INTO ids VALUES (-1)");
        await vi.waitFor(async () => expect(await query(ro, "SELECT id FROM ids WHERE id = -1")).toHaveLength(1), WAIT);

        // SCRAM: a wrong password is refused, and so are the roles that never log in through it.
        const withUser = (url: string, user: string, password: string) => {
            const u = new URL(url);
            u.username = user;
            u.password = password;
            return u.toString();
        };
        await expect(query(withUser(rw, "postgres", "wrong"), "SELECT 1")).rejects.toThrow(/password authentication failed|SASL/); // prettier-ignore
        const env = await docker("inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", router());
        const routerPassword = env.match(/^PGTOPO_ROUTER_PASSWORD=(.+)$/m)![1];
        await expect(query(withUser(rw, "pgtopo_router", routerPassword), "SELECT 1")).rejects.toThrow();
        // TLS only: a plaintext connection is refused.
        const plain = rw.replace(/sslmode=verify-full/, "sslmode=disable");
        await expect(query(plain, "SELECT 1")).rejects.toThrow();

        // No password in the state, and none in a file of the router outside its tmpfs.
        const state = readFileSync(stack.stateFile(), "utf8");
        const superuserPassword = decodeURIComponent(new URL(rw).password);
        for (const secret of [routerPassword, superuserPassword]) expect(state).not.toContain(secret);
        const files = await docker(
            "exec", "-e", `LOOK_FOR=${routerPassword}`, router(), "sh", "-c",
            'grep -rlF -e "$LOOK_FOR" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=run --exclude-dir=dev 2>/dev/null; true',
        ); // prettier-ignore
        expect(files).toBe("");
        // The one file that holds it is on the tmpfs.
        expect(await docker("exec", router(), "stat", "-f", "-c", "%T", "/run/pgtopo-router")).toBe("tmpfs");

        // The multi-host URI over the nodes keeps the primary (libpq: psql in a node image).
        const outputs = await stack.stack.outputs();
        const multi = outputs.multiHostUrl.value as string;
        const ca = stackCaFile(stack.name);
        const inContainer = multi.replace(/sslrootcert=[^&]+/, "sslrootcert=/ca.crt");
        const answer = await docker(
            "run", "--rm", "--network", "host", "-v", `${ca}:/ca.crt:ro`, "--entrypoint", "psql", NODE_IMAGE,
            inContainer, "-XAtc", "SELECT pg_is_in_recovery()",
        ); // prettier-ignore
        expect(answer).toBe("f");

        // npm run status shows the router, healthy.
        const seen = await status(stack.name);
        expect(seen.stdout).toMatch(/router\s*│\s*rw\s*│\s*pg-1:5432\s*│\s*no/);
        expect(seen.code).toBe(0);
    });

    it("carries a Pool of 16 writing through rw across 10 switchovers, one to a cascaded node, with no error and no acknowledged id lost", async () => {
        const app = new PoolApplication(rw, "ids", 16, 1).start();
        await vi.waitFor(() => expect(app.acknowledged.length).toBeGreaterThan(100), WAIT);
        // (primary, its upstreams): back and forth between pg-1 and pg-2, and once to pg-3,
        // which streams from pg-2 when the switchover starts.
        const moves: [string, Record<string, string>][] = [
            ["pg-2", { "pg-3": "pg-2" }],
            ["pg-1", { "pg-3": "pg-2" }],
            ["pg-2", { "pg-3": "pg-2" }],
            ["pg-1", { "pg-3": "pg-2" }],
            ["pg-3", { "pg-1": "pg-3" }],
            ["pg-1", { "pg-3": "pg-2" }],
            ["pg-2", { "pg-3": "pg-2" }],
            ["pg-1", { "pg-3": "pg-2" }],
            ["pg-2", { "pg-3": "pg-2" }],
            ["pg-1", { "pg-3": "pg-2" }],
        ];
        for (const [i, [primary, upstreams]] of moves.entries()) {
            const before = app.acknowledged.length;
            await setPrimary(primary, upstreams);
            const result = await stack.timedUp(
                `switchover ${i + 1} of 10 to ${primary}, a Pool of 16 writing through rw`,
            );
            expect(result.outputs.lastTransition.value).toContain(`${primary} promoted`);
            expect(await nodeBehind(rw)).toEqual({ node: primary, standby: false });
            // The application keeps committing after each one.
            await vi.waitFor(() => expect(app.acknowledged.length).toBeGreaterThan(before + 50), WAIT);
            expect(
                app.errors.map((e) => e.message),
                `errors after switchover ${i + 1}`,
            ).toEqual([]);
        }
        await app.stop();
        console.log(
            `[timing] 10 switchovers through rw: ${app.acknowledged.length} transactions acknowledged, ` +
                `longest ${(app.longestMs / 1000).toFixed(2)} s, ${app.errors.length} errors`,
        );
        expect(app.errors.map((e) => e.message)).toEqual([]);
        // Every acknowledged id is on the primary and every standby.
        for (const node of ["pg-1", "pg-2", "pg-3"]) {
            await vi.waitFor(async () => {
                const [{ n }] = await query<{ n: number }>(
                    urls[node],
                    "SELECT count(*)::int AS n FROM ids WHERE id = ANY($1::int[])",
                    [app.acknowledged],
                );
                expect(n, `acknowledged ids on ${node}`).toBe(app.acknowledged.length);
            }, WAIT);
        }
    });

    it("carries pgbench -c 8 through rw across a switchover: exit 0, no failed transaction", async () => {
        const ca = stackCaFile(stack.name);
        const u = new URL(rw);
        const pgbench = (...args: string[]) =>
            docker(
                "run", "--rm", "--network", "host", "-v", `${ca}:/ca.crt:ro`,
                "-e", `PGPASSWORD=${decodeURIComponent(u.password)}`, "-e", "PGSSLMODE=verify-full", "-e", "PGSSLROOTCERT=/ca.crt",
                "--entrypoint", "/usr/lib/postgresql/15/bin/pgbench", NODE_IMAGE,
                "-h", "127.0.0.1", "-p", u.port, "-U", "postgres", ...args, "postgres",
            ); // prettier-ignore
        await pgbench("-i", "-q", "-s", "1");
        const run = pgbench("-c", "8", "-j", "2", "-T", "45", "-n", "-P", "5");
        await new Promise((r) => setTimeout(r, 10_000));
        await setPrimary("pg-2", { "pg-3": "pg-2" });
        await stack.timedUp("switchover to pg-2 under pgbench -c 8 through rw");
        const out = await run; // throws on a non-zero exit
        console.log(`[pgbench through rw across a switchover]\n${out}`);
        expect(out).toMatch(/number of failed transactions: 0 \(/);
        expect(out).toMatch(/number of transactions actually processed: [1-9]/);
        expect(await nodeBehind(rw)).toEqual({ node: "pg-2", standby: false });
    });

    it("abandons a switchover whose transaction in flight outlasts pauseTimeout: routers resumed, primary unchanged", async () => {
        const held = new Client({ connectionString: rw });
        held.on("error", () => undefined);
        await held.connect();
        await held.query("BEGIN");
        await held.query("INSERT INTO ids VALUES (-2)");

        await setPrimary("pg-1", { "pg-3": "pg-2" }, { endpoints: { ...spec.endpoints, pauseTimeout: 2 } });
        await expect(stack.up()).rejects.toThrow(
            /switchover abandoned: the transactions in flight behind router did not finish within 2s \(pgtopo:endpoints.pauseTimeout\); the routers were resumed and nothing else changed/,
        );
        const state = await routerState();
        expect(state.rw.paused).toBe(false);
        expect(state.rw.target).toBe("pg-2:5432");
        expect(await nodeBehind(rw)).toEqual({ node: "pg-2", standby: false });
        expect(await nodeBehind(urls["pg-1"])).toEqual({ node: "pg-1", standby: true });
        // The transaction that was held ends as its client says.
        await held.query("COMMIT");
        await held.end();
        expect(await query(rw, "SELECT id FROM ids WHERE id = -2")).toHaveLength(1);

        // With the transaction gone, the same change goes through.
        const done = await stack.timedUp("switchover to pg-1 once the long transaction committed");
        expect(done.outputs.lastTransition.value).toContain("pg-1 promoted");
        expect(await nodeBehind(rw)).toEqual({ node: "pg-1", standby: false });
    });

    it("leaves no router paused once the next up runs, after an up killed while the router was paused", async () => {
        // A transaction held open keeps the pause waiting, so that the kill lands inside it.
        const held = new Client({ connectionString: rw });
        held.on("error", () => undefined);
        await held.connect();
        await held.query("BEGIN");
        await held.query("INSERT INTO ids VALUES (-3)");
        await setPrimary("pg-2", { "pg-3": "pg-2" }, { endpoints: { ...spec.endpoints, pauseTimeout: 60 } });
        const interrupted = stack.up().then(
            () => "finished",
            () => "failed",
        );
        await vi.waitFor(async () => expect((await routerState()).rw.paused).toBe(true), {
            timeout: 120_000,
            interval: 50,
        });
        await killMatching("scripts/converge.ts", stack.name);
        await killMatching(`pulumi.* up .*--stack ${stack.name}`, stack.name);
        expect(await interrupted).toBe("failed");
        await stack.cancelAfterKill();
        await held.query("COMMIT");
        await held.end();
        expect((await routerState()).rw.paused).toBe(true);
        const seen = await status(stack.name);
        expect(seen.code).toBe(1);
        expect(seen.stdout).toContain("router: its rw listener is paused");

        await stack.timedUp("the up after the killed one");
        const state = await routerState();
        expect(state.rw).toMatchObject({ paused: false, target: "pg-2:5432" });
        expect(state.ro).toMatchObject({ paused: false });
        expect(await nodeBehind(rw)).toEqual({ node: "pg-2", standby: false });
        expect((await status(stack.name)).code).toBe(0);
    });

    it("fails over through rw: connections to the dead primary fail, new ones reach the new primary at once", async () => {
        const app = new PoolApplication(rw, "ids", 4, 5_000_000).start();
        await vi.waitFor(() => expect(app.acknowledged.length).toBeGreaterThan(20), WAIT);
        await docker("kill", stack.container("pg-2"));
        await setPrimary("pg-1", { "pg-3": "pg-1" });
        const result = await stack.timedUp("failover to pg-1 through rw after docker kill of pg-2");
        expect(result.outputs.lastTransition.value).toContain(
            "failover: no node accepts writes; pg-1 will be promoted",
        );
        expect(await nodeBehind(rw)).toEqual({ node: "pg-1", standby: false });
        const after = app.acknowledged.length;
        await vi.waitFor(() => expect(app.acknowledged.length).toBeGreaterThan(after + 20), WAIT);
        await app.stop();
        // Every acknowledged id survived; the errors are those of the transactions the kill cut.
        const [{ n }] = await query<{ n: number }>(rw, "SELECT count(*)::int AS n FROM ids WHERE id = ANY($1::int[])", [
            app.acknowledged,
        ]);
        expect(n).toBe(app.acknowledged.length);
        console.log(`[failover through rw] ${app.errors.length} client errors (transactions cut by the kill)`);
        // The killed primary rejoined as a standby in that same up; ro is over both standbys
        // again once the cascade is back.
        expect(await nodeBehind(urls["pg-2"])).toEqual({ node: "pg-2", standby: true });
        await setPrimary("pg-1", { "pg-3": "pg-2" });
        await stack.up();
        expect((await routerState()).ro.target).toBe("pg-2:5432,pg-3:5432");
    });

    it("repairs router drift on a plain up: paused and pointed elsewhere by hand, stopped, removed", async () => {
        // Paused and pointed at a standby by hand: status says both, the next up undoes both.
        await docker("exec", router(), "pgtopo-router", "pause", "all", "5");
        await docker("exec", router(), "pgtopo-router", "point", "pg-3:5432", "pg-3:5432");
        const seen = await status(stack.name);
        expect(seen.code).toBe(1);
        expect(seen.stdout).toContain("router: its rw and ro listeners are paused");
        expect(seen.stdout).toContain("router: rw points at pg-3:5432, not pg-1:5432");
        const preview = await stack.stack.preview({ color: "never" });
        expect(preview.stdout).toContain("pgtopo: router: its rw and ro listeners are paused: resume it");
        await stack.up();
        expect(await routerState()).toMatchObject({
            rw: { paused: false, target: "pg-1:5432" },
            ro: { paused: false, target: "pg-2:5432,pg-3:5432" },
        });

        // Stopped: started, still pointed where it was.
        await docker("stop", router());
        await stack.up();
        expect(await nodeBehind(rw)).toEqual({ node: "pg-1", standby: false });

        // Removed: made again on the same volume, which keeps where it points.
        await docker("rm", "-f", router());
        expect((await status(stack.name)).stdout).toContain("router is not running (container missing)");
        await stack.up();
        expect(await nodeBehind(rw)).toEqual({ node: "pg-1", standby: false });
        expect((await status(stack.name)).code).toBe(0);
    });
});

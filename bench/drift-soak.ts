/**
 * Drift soak: breaks a 1 + 3 cascade (pg-1 -> pg-2 -> pg-3, pg-1 -> pg-4) and its router
 * (pgtopo:endpoints) in random ways
 * that pgtopo did not make, one at a time, under continuous writes, and runs a plain
 * `pulumi up` after each. Prints, per kind of drift: how often it was applied, the time
 * of the `up` that repaired it (min / median / max), committed ids lost (must be 0) and
 * how often `npm run status` said healthy afterwards (must be every time).
 *
 *   npm run bench:drift [-- --drifts 20] [--seed 1]
 */
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { docker } from "../tests/support/docker";
import { query } from "../tests/support/postgres";
import { cascadeOfFour, freePorts, TestStack, type ClusterSpec } from "../tests/support/stack";
import { status } from "../tests/support/status";
import { RecordingWriter } from "../tests/support/writer";
import { summarize } from "./stats";

const STANDBYS = ["pg-2", "pg-3", "pg-4"];
const UPSTREAM: Record<string, string> = { "pg-2": "pg-1", "pg-3": "pg-2", "pg-4": "pg-1" };
const slotOf = (node: string) => `pgtopo_${node.replace("-", "_")}`;
const router = (stack: TestStack) => `pgtopo-${stack.name}-router`;

/** A small seeded generator (mulberry32), so that a soak can be run again as it was. */
function random(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

interface Ctx {
    readonly stack: TestStack;
    readonly urls: Record<string, string>;
    readonly pick: <T>(list: readonly T[]) => T;
}

/** Each kind of drift, as a person or a crash would cause it. */
const DRIFTS: Record<string, (ctx: Ctx) => Promise<string>> = {
    "standby killed": async ({ stack, pick }) => {
        const node = pick(STANDBYS);
        await docker("kill", stack.container(node));
        return node;
    },
    "primary killed": async ({ stack }) => {
        await docker("kill", stack.container("pg-1"));
        return "pg-1";
    },
    "standby's container removed": async ({ stack, pick }) => {
        const node = pick(STANDBYS);
        await docker("rm", "-f", stack.container(node));
        return node;
    },
    "slot dropped": async ({ stack, pick }) => {
        const node = pick(STANDBYS);
        await docker("exec", stack.container(UPSTREAM[node]), "pgtopo-slot", "drop", slotOf(node));
        return node;
    },
    "stray pgtopo slot": async ({ urls, pick }) => {
        const node = pick(["pg-1", "pg-2"]);
        await query(urls[node], `SELECT pg_create_physical_replication_slot('pgtopo_stray_${Date.now()}')`);
        return node;
    },
    "standby pointed elsewhere, no slot": async ({ urls, pick }) => {
        const node = pick(["pg-3", "pg-4"]);
        const wrong = node === "pg-3" ? "pg-1" : "pg-2";
        await query(
            urls[node],
            `ALTER SYSTEM SET primary_conninfo = 'host=${wrong} port=5432 user=replicator application_name=${node} passfile=/var/lib/postgresql/.pgpass'`,
        );
        await query(urls[node], "ALTER SYSTEM SET primary_slot_name = ''");
        await query(urls[node], "SELECT pg_reload_conf()");
        return node;
    },
    // The router of pgtopo:endpoints (issue 21).
    "router killed": async ({ stack }) => {
        await docker("kill", router(stack));
        return "router";
    },
    "router removed": async ({ stack }) => {
        await docker("rm", "-f", router(stack));
        return "router";
    },
    "router paused by hand": async ({ stack }) => {
        await docker("exec", router(stack), "pgtopo-router", "pause", "all", "5");
        return "router";
    },
    "router pointed at a standby": async ({ stack, pick }) => {
        const node = pick(STANDBYS);
        await docker("exec", router(stack), "pgtopo-router", "point", `${node}:5432`, `${node}:5432`);
        return `router -> ${node}`;
    },
    "standby promoted by hand": async ({ urls, pick }) => {
        const node = pick(STANDBYS);
        // A recent checkpoint both sides share, as a cluster in use has (see the drift test).
        await query(urls["pg-1"], "CHECKPOINT");
        await new Promise((r) => setTimeout(r, 500));
        await query(urls[node], "CHECKPOINT");
        await query(urls[node], "SELECT pg_promote()");
        return node;
    },
};

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: { drifts: { type: "string", default: "20" }, seed: { type: "string", default: "1" } },
    });
    const drifts = Number(values.drifts);
    const rand = random(Number(values.seed));
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
    const ports = await freePorts(6);
    const spec: ClusterSpec = {
        primary: "pg-1",
        nodes: cascadeOfFour(ports),
        endpoints: { rw: { port: ports[4] }, ro: { port: ports[5] } },
    };
    const stack = await TestStack.create("bench-dr");
    const results = new Map<string, { ups: number[]; lost: number; healthy: number }>();
    let writer: RecordingWriter | undefined;
    try {
        await stack.configure(spec);
        await stack.up();
        const urls = await stack.connectionStrings();
        await query(urls["pg-1"], "CREATE TABLE ids (id int PRIMARY KEY)");
        writer = new RecordingWriter({ "pg-1": urls["pg-1"] }, "ids", 7200).start();
        const kinds = Object.keys(DRIFTS);

        for (let i = 0; i < drifts; i++) {
            const kind = kinds[Math.floor(rand() * kinds.length)];
            await new Promise((r) => setTimeout(r, 1000)); // some writes between drifts
            const node = await DRIFTS[kind]({ stack, urls, pick });
            const started = performance.now();
            await stack.up();
            const seconds = (performance.now() - started) / 1000;
            const healthy = (await status(stack.name)).code === 0;
            // Every id the writer saw committed so far must be on the primary.
            const committed = [...writer.committed];
            const [{ n }] = await query<{ n: number }>(
                urls["pg-1"],
                "SELECT count(*)::int AS n FROM ids WHERE id = ANY($1::int[])",
                [committed],
            );
            const r = results.get(kind) ?? { ups: [], lost: 0, healthy: 0 };
            r.ups.push(seconds);
            r.lost += committed.length - n;
            r.healthy += healthy ? 1 : 0;
            results.set(kind, r);
            console.log(
                `drift ${i + 1}/${drifts}: ${kind} (${node}): up ${seconds.toFixed(1)} s, ` +
                    `${committed.length - n} lost, status ${healthy ? "healthy" : "NOT healthy"}`,
            );
        }
        await writer.stop();
        // At the end, every committed id on every node.
        let missing = 0;
        for (const node of ["pg-1", ...STANDBYS]) {
            const [{ n }] = await query<{ n: number }>(urls[node], "SELECT count(*)::int AS n FROM ids WHERE id = ANY($1::int[])", [writer.committed]); // prettier-ignore
            missing += writer.committed.length - n;
        }

        const table = new Table({
            head: ["drift", "count", "up min", "up median", "up max", "ids lost", "healthy after"],
            style: { head: [], border: [] },
        });
        for (const [kind, r] of [...results].sort()) {
            const s = summarize(r.ups);
            const f = (v: number) => `${v.toFixed(1)} s`;
            table.push([kind, r.ups.length, f(s.min), f(s.median), f(s.max), r.lost, `${r.healthy}/${r.ups.length}`]);
        }
        console.log(`\n${drifts} random drifts (seed ${values.seed}) of a 1 + 3 cascade under writes, a plain up after each\n${table.toString()}`); // prettier-ignore
        console.log(
            `committed ids recorded by the writer: ${writer.committed.length}; missing across all nodes at the end: ${missing}`,
        );
    } finally {
        await writer?.stop(); // a writer left running would keep the process alive
        await stack.dispose();
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});

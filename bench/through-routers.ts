/**
 * Clients through the router (pgtopo:endpoints) against the same clients straight to the
 * primary, for bench:switchover: a node-postgres Pool of 16 and `pgbench -c 8` (simple
 * protocol, no reconnect) running transactions throughout `switchovers` switchovers; then
 * the router's cost outside switchovers, pgbench -S and -N through rw against direct.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { docker, NODE_IMAGE } from "../tests/support/docker";
import { PoolApplication, type Transaction } from "../tests/support/pool-app";
import { query } from "../tests/support/postgres";
import { percentile, printTable, type Row } from "./stats";

export interface RouterBenchArgs {
    /** The nodes' connection strings (published ports on 127.0.0.1). */
    readonly urls: Record<string, string>;
    readonly rw: string;
    /** Switches the primary to the other node with a `pulumi up`; returns the new primary. */
    readonly switchOver: () => Promise<string>;
    readonly primary: () => string;
    readonly switchovers: number;
    /** Switchovers with the same clients straight to the primary (the row to beat). */
    readonly directSwitchovers: number;
    /** The stack's CA file on this machine, with TLS on. */
    readonly caFile?: string;
}

/** pgbench in a one-shot container of the node image, on this machine's loopback. */
function pgbench(url: string, caFile: string | undefined, logDir: string | undefined, args: readonly string[]) {
    const u = new URL(url);
    return docker(
        "run", "--rm", "--network", "host",
        ...(caFile ? ["-v", `${caFile}:/ca.crt:ro`, "-e", "PGSSLMODE=verify-full", "-e", "PGSSLROOTCERT=/ca.crt"] : []),
        ...(logDir ? ["-v", `${logDir}:/log`, "-w", "/log"] : []),
        "-e", `PGPASSWORD=${decodeURIComponent(u.password)}`,
        "--entrypoint", "/usr/lib/postgresql/15/bin/pgbench", NODE_IMAGE,
        "-h", u.hostname, "-p", u.port, "-U", "postgres", ...args, "postgres",
    ); // prettier-ignore
}

/** pgbench's own figures from its report. */
function pgbenchFigures(out: string): { tps: number; failed: number; processed: number } {
    const number = (re: RegExp) => Number(out.match(re)?.[1] ?? NaN);
    return {
        tps: number(/tps = ([\d.]+)/),
        failed: number(/number of failed transactions: (\d+)/),
        processed: number(/number of transactions actually processed: (\d+)/),
    };
}

/** Per-transaction latencies (ms) from pgbench's -l logs (the third field is the latency in µs). */
function pgbenchLatencies(dir: string): number[] {
    return readdirSync(dir)
        .filter((f) => f.startsWith("pgbench_log"))
        .flatMap((f) => readFileSync(path.join(dir, f), "utf8").split("\n"))
        .filter(Boolean)
        .map((line) => Number(line.split(" ")[2]) / 1000);
}

/** The transactions that began within `ms` of a switchover (from the start of its `up` to its end). */
function around(transactions: readonly Transaction[], windows: readonly [number, number][], ms: number) {
    return transactions.filter((t) => windows.some(([from, to]) => t.startedAt >= from - ms && t.startedAt <= to + ms));
}

/** Ids acknowledged but missing on the primary. */
async function lost(url: string, ids: readonly number[]): Promise<number> {
    const [{ n }] = await query<{ n: number }>(
        url,
        "SELECT count(*)::int AS n FROM bench_pool WHERE id = ANY($1::int[])",
        [ids],
    );
    return ids.length - n;
}

/** What one series of switchovers showed the clients of one way of connecting. */
interface Series {
    readonly errors: number[];
    readonly pgbenchFailed: number[];
    readonly pgbenchExits: string[];
    readonly stalls: number[];
    readonly ups: number[];
    readonly lost: number;
    readonly acknowledged: number;
    readonly p99: number;
}

/**
 * `count` switchovers, each with a Pool of 16 writing throughout and a `pgbench -c 8` run
 * spanning it, both through rw (`via: "rw"`) or straight to the primary of the moment
 * (`via: "direct"`, today's way: the application is told the new primary once the `up` is
 * done, and pgbench, which never reconnects, ends at the first broken connection).
 */
async function series(args: RouterBenchArgs, via: "rw" | "direct", count: number, firstId: number): Promise<Series> {
    const { urls, rw, caFile } = args;
    const target = () => (via === "rw" ? rw : urls[args.primary()]);
    const app = new PoolApplication(target(), "bench_pool", 16, firstId, 3600).start();
    const windows: [number, number][] = [];
    const out: Omit<Series, "lost" | "acknowledged" | "p99"> = {
        errors: [],
        pgbenchFailed: [],
        pgbenchExits: [],
        stalls: [],
        ups: [],
    };
    /** The longest the Pool went without a commit around [from, to]: its client-visible stall. */
    const stall = (from: number, to: number) => {
        const ends = app.transactions
            .map((t) => t.startedAt + t.ms)
            .filter((end) => end >= from - 1000 && end <= to + 5000)
            .sort((a, b) => a - b);
        let longest = 0;
        for (let i = 1; i < ends.length; i++) longest = Math.max(longest, ends[i] - ends[i - 1]);
        return longest;
    };
    for (let i = 0; i < count; i++) {
        await new Promise((r) => setTimeout(r, 3000));
        const errorsBefore = app.errors.length;
        const bench = pgbench(target(), caFile, undefined, ["-c", "8", "-j", "2", "-T", "25", "-n", "-M", "simple"]).then(
            (text) => ({ ...pgbenchFigures(text), exit: "0" }),
            (err: { stdout?: string; code?: number }) => ({ ...pgbenchFigures(err.stdout ?? ""), exit: String(err.code ?? "?") }),
        ); // prettier-ignore
        await new Promise((r) => setTimeout(r, 5000));
        const from = Date.now();
        const primary = await args.switchOver();
        const to = Date.now();
        out.ups.push((to - from) / 1000);
        windows.push([from, to]);
        if (via === "direct") app.retarget(urls[primary]);
        const figures = await bench;
        out.pgbenchExits.push(figures.exit);
        // pgbench counts a transaction a broken connection cut as neither done nor failed:
        // a run that ended early (non-zero exit) counts its 8 clients as failed ones.
        out.pgbenchFailed.push((Number.isNaN(figures.failed) ? 0 : figures.failed) + (figures.exit === "0" ? 0 : 8));
        await new Promise((r) => setTimeout(r, 3000));
        out.stalls.push(stall(from, to));
        out.errors.push(app.errors.length - errorsBefore);
        console.log(
            `${via} ${i + 1}/${count}, to ${primary}: up ${out.ups[i].toFixed(1)} s; Pool 16: ${out.errors[i]} errors, ` +
                `stall ${out.stalls[i]} ms; pgbench -c 8: exit ${figures.exit}, ${out.pgbenchFailed[i]} failed`,
        );
    }
    await app.stop();
    const p99 = percentile(
        around(app.transactions, windows, 30_000).map((t) => t.ms),
        99,
    );
    return {
        ...out,
        lost: await lost(urls[args.primary()], app.acknowledged),
        acknowledged: app.acknowledged.length,
        p99,
    };
}

export async function benchThroughRouters(args: RouterBenchArgs): Promise<void> {
    const { urls, rw, caFile } = args;
    await query(urls[args.primary()], "CREATE TABLE IF NOT EXISTS bench_pool (id int PRIMARY KEY)");
    await pgbench(rw, caFile, undefined, ["-i", "-q", "-s", "4"]);

    // ---- Across switchovers: through rw, then the same clients straight to the primary -----
    const router = await series(args, "rw", args.switchovers, 1);
    const direct = await series(args, "direct", args.directSwitchovers, 50_000_000);
    const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

    const directErrors: Row = { label: "client errors, Pool 16 direct (today)", unit: "", values: direct.errors, decimals: 0 }; // prettier-ignore
    const directFailed: Row = { label: "failed, pgbench -c 8 direct", unit: "", values: direct.pgbenchFailed, decimals: 0 }; // prettier-ignore
    const directStall: Row = { label: "longest stall, Pool 16 direct", unit: "ms", values: direct.stalls };
    const directUp: Row = { label: "pulumi up, switchover (direct clients)", unit: "s", values: direct.ups };
    printTable(
        `clients across switchovers: ${args.switchovers} through the router's rw, ${args.directSwitchovers} straight to the primary (per switchover)`,
        [
            directErrors,
            { label: "client errors, Pool 16 through rw", unit: "", values: router.errors, decimals: 0, baseline: directErrors }, // prettier-ignore
            directFailed,
            { label: "failed, pgbench -c 8 through rw", unit: "", values: router.pgbenchFailed, decimals: 0, baseline: directFailed }, // prettier-ignore
            directStall,
            { label: "longest stall, Pool 16 through rw", unit: "ms", values: router.stalls, baseline: directStall },
            directUp,
            { label: "pulumi up, switchover (clients through rw)", unit: "s", values: router.ups, baseline: directUp },
        ],
    );
    console.log(
        [
            `totals through rw over ${args.switchovers} switchovers: ${sum(router.errors)} Pool errors, ` +
                `${sum(router.pgbenchFailed)} pgbench failed (exits: ${router.pgbenchExits.join(" ")}), ` +
                `${router.lost} of ${router.acknowledged} acknowledged ids missing`,
            `totals direct over ${args.directSwitchovers} switchovers: ${sum(direct.errors)} Pool errors, ` +
                `${sum(direct.pgbenchFailed)} pgbench failed (exits: ${direct.pgbenchExits.join(" ")}), ` +
                `${direct.lost} of ${direct.acknowledged} acknowledged ids missing`,
            `p99 Pool transaction latency within 30 s of a switchover: through rw ${router.p99.toFixed(1)} ms, ` +
                `direct ${direct.p99.toFixed(1)} ms (${(router.p99 / direct.p99).toFixed(2)}x)`,
        ].join("\n"),
    );

    // ---- The router's cost outside switchovers ----------------------------------------------
    const cost = async (label: string, mode: string[]) => {
        const rows: Row[] = [];
        const measure = async (url: string) => {
            const dir = mkdtempSync(path.join(tmpdir(), "pgtopo-bench-"));
            try {
                const out = await pgbench(url, caFile, dir, ["-c", "8", "-j", "2", "-T", "20", "-l", ...mode]);
                return { tps: pgbenchFigures(out).tps, p99: percentile(pgbenchLatencies(dir), 99) };
            } finally {
                rmSync(dir, { recursive: true, force: true });
            }
        };
        const tpsDirect: number[] = [];
        const tpsRouter: number[] = [];
        const p99Direct: number[] = [];
        const p99Router: number[] = [];
        // Alternating, so that neither side gets the warmer cache or the quieter minute.
        for (let run = 0; run < 3; run++) {
            const d = await measure(urls[args.primary()]);
            const r = await measure(rw);
            tpsDirect.push(d.tps);
            tpsRouter.push(r.tps);
            p99Direct.push(d.p99);
            p99Router.push(r.p99);
        }
        const tpsBase: Row = { label: `${label} tps, direct`, unit: "tps", values: tpsDirect };
        const p99Base: Row = { label: `${label} p99, direct`, unit: "ms", values: p99Direct, decimals: 2 };
        rows.push(
            tpsBase,
            { label: `${label} tps, through rw`, unit: "tps", values: tpsRouter, baseline: tpsBase },
            p99Base,
            { label: `${label} p99, through rw`, unit: "ms", values: p99Router, decimals: 2, baseline: p99Base },
        );
        return rows;
    };
    printTable("the router's cost outside switchovers: pgbench -c 8, 20 s a run, 3 runs each, alternating", [
        ...(await cost("pgbench -S", ["-S"])),
        ...(await cost("pgbench -N", ["-N"])),
    ]);
}

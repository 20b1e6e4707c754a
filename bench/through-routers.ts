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

export async function benchThroughRouters(args: RouterBenchArgs): Promise<void> {
    const { urls, rw, caFile } = args;
    await query(urls[args.primary()], "CREATE TABLE IF NOT EXISTS bench_pool (id int PRIMARY KEY)");
    await pgbench(rw, caFile, undefined, ["-i", "-q", "-s", "4"]);

    // ---- Across switchovers: through rw, and straight to the primary ----------------------
    const viaRouter = new PoolApplication(rw, "bench_pool", 16, 1, 3600).start();
    const direct = new PoolApplication(urls[args.primary()], "bench_pool", 16, 50_000_000, 3600).start();
    const windows: [number, number][] = [];
    const routerStalls: number[] = [];
    const directStalls: number[] = [];
    const routerErrors: number[] = [];
    const directErrors: number[] = [];
    const pgbenchFailed: number[] = [];
    const ups: number[] = [];
    /** The longest a Pool went without a commit during [from, to]: its client-visible stall. */
    const stall = (app: PoolApplication, from: number, to: number) => {
        const ends = app.transactions
            .map((t) => t.startedAt + t.ms)
            .filter((end) => end >= from - 1000 && end <= to + 5000)
            .sort((a, b) => a - b);
        let longest = 0;
        for (let i = 1; i < ends.length; i++) longest = Math.max(longest, ends[i] - ends[i - 1]);
        return longest;
    };
    for (let i = 0; i < args.switchovers; i++) {
        await new Promise((r) => setTimeout(r, 3000));
        const errorsBefore = [viaRouter.errors.length, direct.errors.length];
        // pgbench -c 8 through rw for the length of this switchover and some.
        const bench = pgbench(rw, caFile, undefined, ["-c", "8", "-j", "2", "-T", "25", "-n", "-M", "simple"]).then(
            (out) => pgbenchFigures(out),
            (err: { stdout?: string }) => ({ ...pgbenchFigures(err.stdout ?? ""), exited: "non-zero" }),
        );
        await new Promise((r) => setTimeout(r, 5000));
        const from = Date.now();
        const primary = await args.switchOver();
        const to = Date.now();
        ups.push((to - from) / 1000);
        windows.push([from, to]);
        // Today's way: the application is told the new primary once the change is done.
        direct.retarget(urls[primary]);
        const figures = await bench;
        pgbenchFailed.push(Number.isNaN(figures.failed) ? 8 : figures.failed + ("exited" in figures ? 1 : 0));
        await new Promise((r) => setTimeout(r, 3000));
        routerStalls.push(stall(viaRouter, from, to));
        directStalls.push(stall(direct, from, to));
        routerErrors.push(viaRouter.errors.length - errorsBefore[0]);
        directErrors.push(direct.errors.length - errorsBefore[1]);
        console.log(
            `switchover ${i + 1}/${args.switchovers} to ${primary}: up ${ups[i].toFixed(1)} s; ` +
                `through rw: ${routerErrors[i]} errors, stall ${routerStalls[i]} ms, pgbench failed ${pgbenchFailed[i]}; ` +
                `direct: ${directErrors[i]} errors, stall ${directStalls[i]} ms`,
        );
    }
    await Promise.all([viaRouter.stop(), direct.stop()]);
    const primaryUrl = urls[args.primary()];
    const lostRouter = await lost(primaryUrl, viaRouter.acknowledged);
    const lostDirect = await lost(primaryUrl, direct.acknowledged);
    const p99 = (app: PoolApplication) =>
        percentile(
            around(app.transactions, windows, 30_000).map((t) => t.ms),
            99,
        );

    const directErrorsRow: Row = { label: "client errors, Pool 16 direct (today)", unit: "", values: directErrors, decimals: 0 }; // prettier-ignore
    const directStallRow: Row = { label: "longest stall, Pool 16 direct", unit: "ms", values: directStalls };
    printTable(
        `clients across ${args.switchovers} switchovers: through the router's rw against straight to the primary`,
        [
            directErrorsRow,
            { label: "client errors, Pool 16 through rw", unit: "", values: routerErrors, decimals: 0, baseline: directErrorsRow }, // prettier-ignore
            { label: "failed transactions, pgbench -c 8 through rw", unit: "", values: pgbenchFailed, decimals: 0 },
            directStallRow,
            { label: "longest stall, Pool 16 through rw", unit: "ms", values: routerStalls, baseline: directStallRow },
            { label: "pulumi up, switchover with routers", unit: "s", values: ups },
        ],
    );
    const p99Direct = p99(direct);
    const p99Router = p99(viaRouter);
    console.log(
        `acknowledged and missing on the primary: through rw ${lostRouter} of ${viaRouter.acknowledged.length}; ` +
            `direct ${lostDirect} of ${direct.acknowledged.length}\n` +
            `p99 transaction latency within 30 s of a switchover: through rw ${p99Router.toFixed(1)} ms, ` +
            `direct ${p99Direct.toFixed(1)} ms (${(p99Router / p99Direct).toFixed(2)}x)\n` +
            `total client errors over ${args.switchovers} switchovers: through rw ${routerErrors.reduce((a, b) => a + b, 0)}, ` +
            `direct ${directErrors.reduce((a, b) => a + b, 0)}; pgbench failed transactions: ${pgbenchFailed.reduce((a, b) => a + b, 0)}`,
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

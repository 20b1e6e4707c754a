/**
 * WAL archiving into the repository under load, with and without pgBackRest's asynchronous
 * archiving (pgtopo:backup.archiveAsync), in one run, alternating the two so that both see
 * the same machine. Two loads on a primary alone:
 * - `pgbench -N` (8 clients) for `--seconds`: an OLTP load, WAL at the rate a busy small
 *   database makes it;
 * - a bulk load (INSERT ... SELECT of `--bulk` rows): WAL as fast as the machine writes it,
 *   where one archive-push per segment, each a new process and (object store) a new TLS
 *   connection, shows.
 * For each: WAL made (segments/s), the archive's pace while the load runs and until it has
 * caught up (segments/s), the archive lag (segments waiting in pg_wal, sampled every 0.5 s),
 * and how long after the load the archive caught up. The synchronous rows are the baseline.
 *
 *   npm run bench:archive [-- --runs 2 --seconds 60 --bulk 4000000 --repository volume|s3|host]
 * (`host`: the stack's repository host on this machine, pgtopo:backup.repositoryHost: each
 * push goes through its pgBackRest TLS server.)
 */
import { parseArgs } from "node:util";
import { docker } from "../tests/support/docker";
import { startTestObjectStore, type TestObjectStore } from "../tests/support/object-store";
import { freePorts, TestStack, type ClusterSpec } from "../tests/support/stack";
import { printTable, type Row } from "./stats";

const SEGMENT = 16 * 1024 * 1024;

interface Figures {
    made: number; // segments per second of load
    pace: number; // segments archived per second, load start to caught up
    lag: number; // most segments waiting at once
    drain: number; // seconds from the end of the load to caught up
    tps?: number;
}

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: {
            runs: { type: "string", default: "2" },
            seconds: { type: "string", default: "60" },
            bulk: { type: "string", default: "4000000" },
            repository: { type: "string", default: "s3" },
        },
    });
    if (!["volume", "s3", "host"].includes(values.repository)) {
        throw new Error(`--repository: "${values.repository}" is not allowed; allowed: volume, s3, host`);
    }
    const store: TestObjectStore | undefined = values.repository === "s3" ? await startTestObjectStore() : undefined;
    const runs = Number(values.runs);
    const [port] = await freePorts(1);
    const stack = await TestStack.create("bench-ar");
    const spec = (archiveAsync: boolean): ClusterSpec => ({
        primary: "pg-1",
        nodes: [{ name: "pg-1", port }],
        backup: {
            archiveAsync,
            ...(store ? { s3: store.s3 } : values.repository === "host" ? { repositoryHost: {} } : {}),
        },
    });
    const container = stack.container("pg-1");
    const psql = (sql: string) =>
        docker("exec", "-u", "postgres", container, "psql", "-XAtq", "-h", "/var/run/postgresql", "-c", sql);
    const waiting = async () =>
        Number(await docker("exec", container, "sh", "-c", "ls $PGDATA/pg_wal/archive_status/ | grep -c '\\.ready$' || true")); // prettier-ignore

    /** Runs one load, sampling the archive until it has caught up with the load's last segment. */
    async function measure(load: () => Promise<string>): Promise<Figures> {
        await psql("CHECKPOINT");
        await psql("SELECT pg_switch_wal()");
        const before = await lsnAndArchived();
        let lag = 0;
        let loading = true;
        const sampler = (async () => {
            while (loading) {
                lag = Math.max(lag, await waiting());
                await new Promise((r) => setTimeout(r, 500));
            }
        })();
        const started = performance.now();
        const out = await load().finally(() => (loading = false));
        const loadSeconds = (performance.now() - started) / 1000;
        await sampler;
        await psql("SELECT pg_switch_wal()");
        const after = await lsnAndArchived();
        // Caught up: every segment the load made is archived (the counter, not the file list,
        // so that a segment PostgreSQL recycled meanwhile still counts).
        const segments = after.archived - before.archived;
        let archived = segments;
        for (;;) {
            lag = Math.max(lag, await waiting());
            archived = Number(await psql("SELECT archived_count FROM pg_stat_archiver")) - before.archived;
            const last = await psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
            if (last >= after.segment && (await waiting()) === 0) break;
            await new Promise((r) => setTimeout(r, 200));
        }
        const total = (performance.now() - started) / 1000;
        const tps = /tps = ([\d.]+)/.exec(out)?.[1];
        if (process.env.PGTOPO_BENCH_TRACE) {
            console.log(`  trace: ${JSON.stringify({ before, after, archived, loadSeconds, total })}`);
        }
        return {
            made: (after.lsn - before.lsn) / SEGMENT / loadSeconds,
            pace: archived / total,
            lag,
            drain: total - loadSeconds,
            ...(tps ? { tps: Number(tps) } : {}),
        };
    }

    async function lsnAndArchived() {
        const [lsn, segment, archived] = (
            await psql(
                "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, pg_walfile_name(pg_current_wal_lsn()), archived_count FROM pg_stat_archiver",
            )
        ).split("|");
        return { lsn: Number(lsn), segment, archived: Number(archived) };
    }

    const results: Record<"sync" | "async", { oltp: Figures[]; bulk: Figures[] }> = {
        sync: { oltp: [], bulk: [] },
        async: { oltp: [], bulk: [] },
    };
    try {
        await stack.configure(spec(false));
        await stack.stack.setConfig("pgtopo:deleteDataOnRemove", { value: "true" });
        await stack.up();
        await docker("exec", "-u", "postgres", container, "pgbench", "-i", "-q", "-s", "10", "-h", "/var/run/postgresql", "postgres"); // prettier-ignore
        await psql("CREATE TABLE bulk (id bigint, pad text)");
        for (let i = 0; i < runs; i++) {
            for (const mode of ["sync", "async"] as const) {
                await stack.configure(spec(mode === "async"));
                await stack.up();
                const env = await docker("exec", container, "printenv", "PGBACKREST_ARCHIVE_ASYNC").catch(() => "n");
                if ((env === "y") !== (mode === "async")) throw new Error(`archive-async is ${env}, expected ${mode}`);
                const oltp = await measure(
                    () =>
                    docker("exec", "-u", "postgres", container, "pgbench", "-N", "-c", "8", "-j", "2", "-T", values.seconds!, "-h", "/var/run/postgresql", "postgres"), // prettier-ignore
                );
                await psql("TRUNCATE bulk");
                const bulk = await measure(() =>
                    psql(`INSERT INTO bulk SELECT g, repeat('x', 100) FROM generate_series(1, ${values.bulk}) g`),
                );
                results[mode].oltp.push(oltp);
                results[mode].bulk.push(bulk);
                const show = (f: Figures) =>
                    `${f.made.toFixed(2)} seg/s made, ${f.pace.toFixed(2)} archived/s, lag ≤ ${f.lag}, caught up ${f.drain.toFixed(1)} s after`;
                console.log(
                    `run ${i + 1}/${runs} ${mode}: pgbench -N ${show(oltp)} (${oltp.tps} tps); bulk ${show(bulk)}`,
                );
            }
        }
        for (const load of ["oltp", "bulk"] as const) {
            const rows = (mode: "sync" | "async", baseline?: Row[]): Row[] => {
                const of = results[mode][load];
                const made: Row = { label: `${mode}: WAL made`, unit: "seg/s", decimals: 2, values: of.map((f) => f.made), baseline: baseline?.[0] }; // prettier-ignore
                const pace: Row = { label: `${mode}: archived, start to caught up`, unit: "seg/s", decimals: 2, values: of.map((f) => f.pace), baseline: baseline?.[1] }; // prettier-ignore
                const lag: Row = { label: `${mode}: archive lag, most waiting`, unit: "seg", decimals: 0, values: of.map((f) => f.lag), baseline: baseline?.[2] }; // prettier-ignore
                const drain: Row = { label: `${mode}: caught up after the load`, unit: "s", values: of.map((f) => f.drain), baseline: baseline?.[3] }; // prettier-ignore
                const tps: Row[] =
                    load === "oltp"
                        ? [{ label: `${mode}: pgbench -N`, unit: "tps", decimals: 0, values: of.map((f) => f.tps ?? NaN), baseline: baseline?.[4] }] // prettier-ignore
                        : [];
                return [made, pace, lag, drain, ...tps];
            };
            const sync = rows("sync");
            printTable(
                `WAL archiving into the ${values.repository === "s3" ? "object store (SeaweedFS over TLS, test host)" : "local volume"}, ` +
                    `${load === "oltp" ? `pgbench -N -c 8 for ${values.seconds} s (scale 10)` : `bulk INSERT of ${values.bulk} rows`}, ` +
                    `${runs} runs each; baseline: synchronous archive-push`,
                [...sync, ...rows("async", sync)],
            );
        }
    } finally {
        await stack.dispose();
        // A repository volume outlives its stack: this one is the bench's own.
        await docker("volume", "rm", "-f", `pgtopo-${stack.name}-backups`).catch(() => undefined);
        if (store) await store.remove();
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});

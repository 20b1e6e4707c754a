/**
 * Replication lag under a steady pgbench write load: pgtopo's cluster against the
 * tutorials' hand-made one (bench/by-hand.sh), same shape (a primary, a standby and a
 * standby of that standby), same image, same load, in the same run.
 *
 * Both clusters are up for the whole bench; the load goes to one at a time, alternating,
 * so that each run of one sits next to a run of the other. During a load run every
 * standby is sampled every --interval ms:
 *  - bytes: the primary's current WAL position minus the standby's replayed one, read in
 *    the same instant (for the cascaded standby: its lag behind the primary, both hops);
 *  - time: replay_lag as its upstream's pg_stat_replication reports it (one hop).
 * Each run gives a p50 and a p99 per standby; the tables show min, median and max of
 * those over the runs, and pgtopo's median against the hand-made one's.
 *
 *   npm run bench:lag [-- --runs 3] [--seconds 20] [--rate 300 (0: unthrottled)] [--clients 4] [--scale 10]
 *                     [--pgtopo-parameters '{"hot_standby_feedback": false}'] [--tls] [--hosts]
 *   --hosts: pgtopo's cluster one node per Docker host (three engines in network namespaces,
 *            scripts/test-hosts.sh), TLS on; the by-hand cluster stays on this engine
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { parseArgs, promisify } from "node:util";
import { Client } from "pg";
import { dockerEnv } from "../ops/docker";
import { lagBytes } from "../planning/lsn";
import { freePorts, TestStack } from "../tests/support/stack";
import { startTestHosts, type TestHosts } from "../tests/support/hosts";
import { percentile, printTable, type Row } from "./stats";

const run = promisify(execFile);
const BY_HAND = path.join(__dirname, "by-hand.sh");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The two standbys of either cluster, by their place in the layout. */
const ROLES = ["standby", "cascaded standby"] as const;
type Role = (typeof ROLES)[number];

interface Standby {
    readonly role: Role;
    /** How it names itself to its upstream (pg_stat_replication.application_name). */
    readonly applicationName: string;
    readonly self: Client;
    readonly upstream: Client;
}

/** One cluster as the bench drives it: where the load goes and whom to sample. */
interface Cluster {
    readonly label: string;
    readonly primaryContainer: string;
    /** The primary's engine (--hosts); undefined: the local one. */
    readonly dockerHost?: string;
    readonly primary: Client;
    readonly standbys: readonly Standby[];
}

interface Percentiles {
    p50Bytes: number;
    p99Bytes: number;
    p50Ms: number;
    p99Ms: number;
}

interface LoadRun {
    tps: number;
    perStandby: Map<Role, Percentiles>;
}

async function connect(url: string): Promise<Client> {
    const client = new Client({ connectionString: url });
    await client.connect();
    return client;
}

/** pgbench in the primary's container, over its Unix socket (peer auth as postgres). */
async function pgbench(cluster: Cluster, ...args: string[]): Promise<string> {
    const argv = ["exec", "-u", "postgres", cluster.primaryContainer, "pgbench", "-h", "/var/run/postgresql", ...args, "postgres"]; // prettier-ignore
    const env = { ...process.env, ...dockerEnv(cluster.dockerHost) };
    return (await run("docker", argv, { maxBuffer: 16 << 20, env })).stdout;
}

/** Every standby's lag in one instant: all queries sent together. */
async function sample(cluster: Cluster): Promise<{ role: Role; bytes: number; seconds: number | null }[]> {
    const [primary, replayed, reported] = await Promise.all([
        cluster.primary.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn"),
        Promise.all(
            cluster.standbys.map((s) => s.self.query<{ lsn: string }>("SELECT pg_last_wal_replay_lsn()::text AS lsn")),
        ),
        Promise.all(
            cluster.standbys.map((s) =>
                s.upstream.query<{ seconds: number | null }>(
                    `SELECT EXTRACT(epoch FROM replay_lag)::float8 AS seconds
                     FROM pg_stat_replication WHERE application_name = $1`,
                    [s.applicationName],
                ),
            ),
        ),
    ]);
    return cluster.standbys.map((s, i) => ({
        role: s.role,
        bytes: Math.max(0, lagBytes(primary.rows[0].lsn, replayed[i].rows[0].lsn)),
        seconds: reported[i].rows[0]?.seconds ?? null,
    }));
}

/** One load run on one cluster: pgbench for `seconds`, sampling all along. */
async function loadRun(cluster: Cluster, options: LoadOptions): Promise<LoadRun> {
    const samples = new Map<Role, { bytes: number[]; ms: number[] }>(ROLES.map((r) => [r, { bytes: [], ms: [] }]));
    let loading = true;
    // --rate 0: as fast as the machine goes (pgbench without -R).
    const rate = options.rate > 0 ? ["-R", String(options.rate)] : [];
    const load = pgbench(
        cluster,
        "-n", "-c", String(options.clients), "-j", "2", "-T", String(options.seconds), ...rate,
    ).finally(() => (loading = false)); // prettier-ignore
    // The first second is connection set-up; sample the steady state after it.
    await sleep(1000);
    while (loading) {
        for (const s of await sample(cluster)) {
            const series = samples.get(s.role)!;
            series.bytes.push(s.bytes);
            // replay_lag is NULL until the first reply after a quiet spell: not a sample.
            if (s.seconds !== null) series.ms.push(s.seconds * 1000);
        }
        await sleep(options.interval);
    }
    const output = await load;
    const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? NaN);
    const perStandby = new Map<Role, Percentiles>();
    for (const [role, { bytes, ms }] of samples) {
        perStandby.set(role, {
            p50Bytes: percentile(bytes, 50),
            p99Bytes: percentile(bytes, 99),
            p50Ms: percentile(ms, 50),
            p99Ms: percentile(ms, 99),
        });
    }
    return { tps, perStandby };
}

interface LoadOptions {
    readonly seconds: number;
    readonly rate: number;
    readonly clients: number;
    readonly interval: number;
}

/** A cluster the bench made, and how to take it away again. */
interface Made {
    readonly cluster: Cluster;
    readonly dispose: () => Promise<void>;
}

/**
 * Connects to a primary -> standby -> cascaded standby chain; `teardown` removes the
 * cluster, and runs as well when connecting fails, so that nothing is left behind.
 */
async function connectChain(
    label: string,
    primaryContainer: string | { container: string; dockerHost: string },
    urls: readonly [string, string, string],
    applicationNames: readonly [string, string],
    teardown: () => Promise<void>,
): Promise<Made> {
    const clients = await Promise.all(urls.map(connect)).catch(async (err) => {
        await teardown();
        throw err;
    });
    const [a, b, c] = clients;
    return {
        cluster: {
            label,
            ...(typeof primaryContainer === "string"
                ? { primaryContainer }
                : { primaryContainer: primaryContainer.container, dockerHost: primaryContainer.dockerHost }),
            primary: a,
            standbys: [
                { role: "standby", applicationName: applicationNames[0], self: b, upstream: a },
                { role: "cascaded standby", applicationName: applicationNames[1], self: c, upstream: b },
            ],
        },
        dispose: async () => {
            await Promise.all(clients.map((client) => client.end()));
            await teardown();
        },
    };
}

async function pgtopoCluster(
    ports: number[],
    parameters: Record<string, string | number | boolean> | undefined,
    tls: boolean,
    testHosts?: TestHosts,
): Promise<Made> {
    const stack = await TestStack.create("bench-lag");
    const teardown = () => stack.dispose();
    const on = (host: string) => (testHosts ? { host } : {});
    const nodes = [
        { name: "pg-1", port: ports[0], ...on("b1") },
        { name: "pg-2", port: ports[1], ...on("b2") },
        { name: "pg-3", port: ports[2], upstream: "pg-2", ...on("b3") },
    ];
    const placement = testHosts ? { hosts: testHosts.hosts, clients: [testHosts.here] } : {};
    try {
        await stack.configure({ primary: "pg-1", nodes, parameters, tls, ...placement });
        await stack.up();
    } catch (err) {
        await teardown();
        throw err;
    }
    const urls = await stack.connectionStrings();
    return connectChain(
        "pgtopo",
        testHosts
            ? { container: stack.container("pg-1"), dockerHost: testHosts.hosts.b1.docker }
            : stack.container("pg-1"),
        [urls["pg-1"], urls["pg-2"], urls["pg-3"]],
        ["pg-2", "pg-3"],
        teardown,
    );
}

async function handMadeCluster(ports: number[]): Promise<Made> {
    const name = `pgtopo-bench-lag-${randomBytes(3).toString("hex")}`;
    const password = randomBytes(24).toString("hex");
    const teardown = async () => void (await run("bash", [BY_HAND, "down", name]));
    try {
        await run("bash", [BY_HAND, "up", name, ...ports.map(String)], {
            env: { ...process.env, PGTOPO_BENCH_PASSWORD: password },
        });
    } catch (err) {
        await teardown();
        throw err;
    }
    const url = (port: number) => `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
    // pg_basebackup -R leaves application_name unset: libpq's "walreceiver".
    return connectChain(
        "by hand",
        `${name}-a`,
        [url(ports[0]), url(ports[1]), url(ports[2])],
        ["walreceiver", "walreceiver"],
        teardown,
    );
}

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: {
            runs: { type: "string", default: "3" },
            seconds: { type: "string", default: "20" },
            rate: { type: "string", default: "300" },
            clients: { type: "string", default: "4" },
            scale: { type: "string", default: "10" },
            interval: { type: "string", default: "50" },
            // pgtopo:parameters for pgtopo's cluster, as JSON: to see what a default costs.
            "pgtopo-parameters": { type: "string" },
            // pgtopo:tls on for pgtopo's cluster: replication over TLS against plaintext by hand.
            tls: { type: "boolean", default: false },
            // pgtopo's cluster on three Docker hosts (network namespaces), TLS on.
            hosts: { type: "boolean", default: false },
        },
    });
    const testHosts = values.hosts ? await startTestHosts(3) : undefined;
    const tls = values.tls || values.hosts;
    const runs = Number(values.runs);
    const options: LoadOptions = {
        seconds: Number(values.seconds),
        rate: Number(values.rate),
        clients: Number(values.clients),
        interval: Number(values.interval),
    };
    const ports = await freePorts(6);
    const made = [await handMadeCluster(ports.slice(0, 3))];
    try {
        const parameters = values["pgtopo-parameters"] ? JSON.parse(values["pgtopo-parameters"]) : undefined;
        made.push(await pgtopoCluster(ports.slice(3, 6), parameters, tls, testHosts));
        const [hand, pgtopo] = made.map((m) => m.cluster);
        for (const cluster of [hand, pgtopo]) {
            await pgbench(cluster, "-i", "-q", "-s", values.scale);
        }

        const results = new Map<Cluster, LoadRun[]>([
            [hand, []],
            [pgtopo, []],
        ]);
        for (let i = 0; i < runs; i++) {
            for (const cluster of [hand, pgtopo]) {
                const result = await loadRun(cluster, options);
                results.get(cluster)!.push(result);
                console.log(`run ${i + 1}/${runs} ${cluster.label}: ${result.tps.toFixed(0)} tps`);
            }
        }

        const series = (cluster: Cluster, pick: (r: LoadRun) => number) => results.get(cluster)!.map(pick);
        const pair = (measure: string, unit: string, pick: (r: LoadRun) => number, decimals?: number): Row[] => {
            const baseline: Row = { label: `by hand: ${measure}`, unit, decimals, values: series(hand, pick) };
            return [baseline, { label: `pgtopo: ${measure}`, unit, decimals, values: series(pgtopo, pick), baseline }];
        };
        const limit = options.rate > 0 ? `-R ${options.rate}` : "unthrottled";
        const load = `pgbench -c ${options.clients} ${limit} for ${options.seconds} s, scale ${values.scale}${testHosts ? "; pgtopo across three hosts, TLS" : tls ? "; pgtopo with TLS" : ""}`;
        printTable(
            `achieved write load (${load}), ${runs} runs each`,
            pair("tps", "tps", (r) => r.tps),
        );
        for (const role of ROLES) {
            const at = (r: LoadRun) => r.perStandby.get(role)!;
            printTable(`replay lag of the ${role} under ${load}; p50/p99 per run, ${runs} runs each`, [
                ...pair("p50 bytes behind the primary", "B", (r) => at(r).p50Bytes),
                ...pair("p99 bytes behind the primary", "B", (r) => at(r).p99Bytes),
                ...pair("p50 replay_lag", "ms", (r) => at(r).p50Ms, 1),
                ...pair("p99 replay_lag", "ms", (r) => at(r).p99Ms, 1),
            ]);
        }
    } finally {
        for (const m of made) await m.dispose();
        await testHosts?.remove();
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});

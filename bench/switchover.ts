/**
 * Switchover under a steady write load: how long clients cannot write (last commit on
 * the old primary to first commit on the new one, as a client sees it) and how long
 * the whole `pulumi up` takes. Baseline, in the same run and on the same cluster: the
 * tutorials' way by hand, `docker stop` the primary then `pg_promote()` the standby
 * (which, unlike pgtopo, leaves the old primary down and nothing re-pointed: pgtopo's
 * next `up` then rejoins it, which the bench also relies on to reset between runs).
 *
 * Then, with pgtopo:endpoints (bench/through-routers.ts): a node-postgres Pool of 16 and
 * pgbench -c 8 through the router's rw across `--switchovers` more switchovers, against
 * the same Pool straight to the primary (today's way), and the router's cost outside
 * switchovers (pgbench -S and -N through rw against direct).
 *
 *   npm run bench:switchover [-- --runs 3] [--switchovers 20] [--direct-switchovers 5] [--tls] [--hosts]
 *     --tls: pgtopo:tls on, clients too
 *     --hosts: pg-1 and pg-2 each on a Docker host of its own (two engines in network
 *              namespaces, scripts/test-hosts.sh; TLS on, as always across hosts); the
 *              router part runs on one machine only
 *     --switchovers 0: leaves the router part out
 */
import { parseArgs } from "node:util";
import { docker } from "../tests/support/docker";
import { query } from "../tests/support/postgres";
import { freePorts, TestStack } from "../tests/support/stack";
import { RecordingWriter } from "../tests/support/writer";
import { printTable } from "./stats";
import { startTestHosts } from "../tests/support/hosts";
import { stackCaFile } from "../contract/names";
import { benchThroughRouters } from "./through-routers";

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: {
            runs: { type: "string", default: "3" },
            switchovers: { type: "string", default: "20" },
            "direct-switchovers": { type: "string", default: "5" },
            tls: { type: "boolean", default: false },
            hosts: { type: "boolean", default: false },
        },
    });
    const testHosts = values.hosts ? await startTestHosts(2) : undefined;
    const tls = values.tls || values.hosts;
    const runs = Number(values.runs);
    const ports = await freePorts(4);
    const switchovers = testHosts ? 0 : Number(values.switchovers);
    const endpoints = switchovers > 0 ? { endpoints: { rw: { port: ports[2] }, ro: { port: ports[3] } } } : {};
    const stack = await TestStack.create("bench-sw");
    const nodes = [
        { name: "pg-1", port: ports[0], ...(testHosts ? { host: "b1" } : {}) },
        { name: "pg-2", port: ports[1], ...(testHosts ? { host: "b2" } : {}) },
    ];
    const placement = testHosts ? { hosts: testHosts.hosts, clients: [testHosts.here] } : {};
    /** `docker stop` on the node's own engine. */
    const stopNode = (node: "pg-2") =>
        testHosts ? testHosts.docker("b2", "stop", stack.container(node)) : docker("stop", stack.container(node));
    const windows: number[] = [];
    const upTimes: number[] = [];
    const manualWindows: number[] = [];
    try {
        await stack.configure({ primary: "pg-1", nodes, tls, ...placement, ...endpoints });
        await stack.up();
        const urls = await stack.connectionStrings();
        await query(urls["pg-1"], "CREATE TABLE bench_ids (id int PRIMARY KEY)");
        const writer = new RecordingWriter(urls, "bench_ids", 3600).start();
        /** Lets 50 more commits through: the gap of a switchover is complete only after writes resume. */
        const fiftyMoreCommits = async () => {
            const n = writer.committed.length;
            while (writer.committed.length < n + 50) await new Promise((r) => setTimeout(r, 50));
        };

        for (let i = 0; i < runs; i++) {
            // pgtopo: pg-1 -> pg-2
            await fiftyMoreCommits();
            writer.maxGapMs = 0;
            await stack.configure({ primary: "pg-2", nodes, tls, ...placement, ...endpoints });
            const started = performance.now();
            await stack.up();
            upTimes.push((performance.now() - started) / 1000);
            await fiftyMoreCommits();
            windows.push(writer.maxGapMs);

            // by hand: pg-2 -> pg-1 (stop, promote), then pgtopo's up rejoins pg-2.
            writer.maxGapMs = 0;
            await stopNode("pg-2");
            await query(urls["pg-1"], "SELECT pg_promote(wait => true)");
            await fiftyMoreCommits();
            manualWindows.push(writer.maxGapMs);
            console.log(
                `run ${i + 1}/${runs}: write gap pgtopo ${windows[i]} ms (up ${upTimes[i].toFixed(1)} s), by hand ${manualWindows[i]} ms`,
            );
            await stack.configure({ primary: "pg-1", nodes, tls, ...placement, ...endpoints });
            await stack.up();
        }
        await writer.stop();
        const lost = writer.committed.length - (await query(urls["pg-1"], "SELECT id FROM bench_ids")).length;
        const manual = { label: "write gap, by hand (stop + pg_promote)", unit: "ms", values: manualWindows };
        printTable(
            `switchover under load${testHosts ? ", across two hosts" : ", on one host"}${tls ? ", TLS on" : ""}, ${runs} runs (pgtopo ${windows.length}, by hand ${manualWindows.length})`,
            [
                manual,
                { label: "write gap, pgtopo switchover", unit: "ms", values: windows, baseline: manual },
                { label: "pulumi up, pgtopo switchover", unit: "s", values: upTimes },
            ],
        );
        console.log(
            `committed ids recorded by the client: ${writer.committed.length}; missing on the final primary: ${lost}`,
        );

        if (switchovers > 0) {
            let primary = "pg-1";
            await benchThroughRouters({
                urls,
                rw: (await stack.endpoints()).rw!,
                primary: () => primary,
                switchovers,
                directSwitchovers: Number(values["direct-switchovers"]),
                caFile: tls ? stackCaFile(stack.name) : undefined,
                switchOver: async () => {
                    primary = primary === "pg-1" ? "pg-2" : "pg-1";
                    await stack.configure({ primary, nodes, tls, ...placement, ...endpoints });
                    await stack.up();
                    return primary;
                },
            });
        }
    } finally {
        try {
            await stack.dispose();
        } finally {
            await testHosts?.remove();
        }
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});

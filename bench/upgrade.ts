/**
 * A major upgrade by config (issue 23): `postgresVersion` 15 -> 17 and one `pulumi up` on a
 * 1 + 2 cascade holding data, with a recording writer until the upgrade stops writes and
 * after, against two baselines measured in the same run on the same data:
 *  - pg_dumpall | psql into a new 17 server (writes stopped throughout, for a consistent
 *    cut-over; the standbys then cloned anew);
 *  - CloudNativePG's way: the same stop and pg_upgrade --link, then every standby cloned
 *    anew (a bare pg_basebackup of the upgraded primary per standby).
 * Two data sets: pgbench at a scale (100 is about 1.5 GB) and a schema of many relations
 * (pg_upgrade's cost grows with the catalog, not the data).
 *
 *   npm run bench:upgrade [-- --scale 100 --relations 10000]
 */
import { execFile } from "node:child_process";
import { parseArgs, promisify } from "node:util";
import { docker } from "../tests/support/docker";
import { query } from "../tests/support/postgres";
import { cascadeOfThree, freePorts, TestStack, type ClusterSpec } from "../tests/support/stack";
import { RecordingWriter } from "../tests/support/writer";
import { bareBasebackup, loadPgbench } from "./primary-data";
import { printTable, seconds, type Row } from "./stats";

const run = promisify(execFile);

interface DataSet {
    readonly label: string;
    /** Fills the primary; returns a size for the title. */
    readonly load: (container: string, url: string) => Promise<string>;
}

/** `count` empty tables with a primary key each (two relations apiece), in batches. */
async function createRelations(container: string, url: string, count: number): Promise<string> {
    const batch = 500;
    for (let first = 1; first <= count; first += batch) {
        const last = Math.min(count, first + batch - 1);
        await docker("exec", "-u", "postgres", container, "psql", "-h", "/var/run/postgresql", "-d", "postgres", "-XqAtc",
            `DO $$ BEGIN FOR i IN ${first}..${last} LOOP EXECUTE format('CREATE TABLE rel_%s (id int PRIMARY KEY, t text)', i); END LOOP; END $$`); // prettier-ignore
    }
    const [{ n }] = await query<{ n: number }>(
        url,
        "SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'rel_%'",
    );
    return `${n} relations`;
}

/** The sum over distinct lines (a command's lines show twice in `up`'s output: as it runs and in its diagnostics). */
const bytesIn = (log: string, pattern: RegExp) =>
    [...new Set(log.match(pattern) ?? [])].reduce(
        (sum, line) => sum + Number(/: ([\d,]+) bytes$/.exec(line)![1].replace(/,/g, "")),
        0,
    );
const secondsIn = (log: string, pattern: RegExp) => Number(log.match(pattern)?.[1] ?? NaN);

async function benchOne(set: DataSet): Promise<void> {
    const stack = await TestStack.create("bench-up");
    const spec: ClusterSpec = {
        postgresVersion: "15",
        primary: "pg-1",
        nodes: cascadeOfThree(await freePorts(3)),
    };
    try {
        await stack.configure(spec);
        await stack.up();
        const urls = await stack.connectionStrings();
        const primary = stack.container("pg-1");
        const size = await set.load(primary, urls["pg-1"]);
        const [{ bytes }] = await query<{ bytes: string }>(urls["pg-1"], "SELECT sum(pg_database_size(datname))::bigint AS bytes FROM pg_database"); // prettier-ignore
        console.log(`${set.label}: ${size}, ${(Number(bytes) / 1e6).toFixed(0)} MB in all databases`);

        // pgtopo: one `up`, under a recording writer.
        await query(urls["pg-1"], "CREATE TABLE bench_ids (id int PRIMARY KEY)");
        const writer = new RecordingWriter(urls, "bench_ids", 3600).start();
        while (writer.committed.length < 20) await new Promise((r) => setTimeout(r, 100));
        await stack.configure({ ...spec, postgresVersion: "17" });
        stack.log.length = 0;
        const total = await seconds(() => stack.up());
        const before = writer.committed.length;
        while (writer.committed.length < before + 20) await new Promise((r) => setTimeout(r, 100));
        await writer.stop();
        const log = stack.log.join("");
        const copied = bytesIn(log, /copied to the standby at \S+: [\d,]+ bytes/g);
        const stopped = secondsIn(log, /in place on every volume after ([\d.]+) s stopped/);
        const following = secondsIn(log, /standbys brought along in ([\d.]+) s/);
        // No lost commit: every acknowledged id on the cascade's last node.
        const committed = [...writer.committed];
        for (let i = 0; ; i++) {
            const [{ n }] = await query<{ n: number }>(urls["pg-3"], "SELECT count(*)::int AS n FROM bench_ids WHERE id = ANY($1::int[])", [committed]); // prettier-ignore
            if (n === committed.length) break;
            if (i > 300) throw new Error(`pg-3 has ${n} of ${committed.length} acknowledged ids`);
            await new Promise((r) => setTimeout(r, 200));
        }

        console.log(
            `pgtopo: up ${total.toFixed(1)} s, longest write gap ${(writer.maxGapMs / 1000).toFixed(1)} s, ` +
                `stopped ${stopped} s (rsync ${following} s), ${copied} bytes to the standbys`,
        );

        // CloudNativePG's way: the same stop and link, then each standby cloned anew.
        const reclones = [await seconds(() => bareBasebackup(primary)), await seconds(() => bareBasebackup(primary))];
        const reclone = reclones[0] + reclones[1];

        // pg_dumpall | psql into a new 17 server: the dump over the primary's socket, the load
        // into a throwaway server of the upgrade image's 17, through this machine's pipe. Its
        // bootstrap role is not "postgres", which the dump creates (and ON_ERROR_STOP holds).
        const target = `${stack.container("pg-1")}-dump-target`;
        await docker("run", "-d", "--name", target, "pgtopo/upgrade:15-17", "bash", "-c",
            'as() { setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/tmp "$@"; }; ' +
            'as "$NEW_BINDIR/initdb" -D /tmp/new -U loader >/dev/null && ' +
            'exec setpriv --reuid=postgres --regid=postgres --init-groups "$NEW_BINDIR/postgres" -D /tmp/new -c listen_addresses= -k /tmp -c max_wal_size=4GB'); // prettier-ignore
        let dumpAll: number;
        try {
            for (let i = 0; ; i++) {
                const ready = await docker("exec", "-u", "postgres", target, "pg_isready", "-q", "-h", "/tmp").then(() => true, () => false); // prettier-ignore
                if (ready) break;
                if (i > 300) throw new Error("the dump's target server did not start");
                await new Promise((r) => setTimeout(r, 200));
            }
            dumpAll = await seconds(
                () =>
                run("bash", ["-c", `set -o pipefail; docker exec -u postgres ${primary} pg_dumpall -h /var/run/postgresql | docker exec -i -u postgres ${target} psql -h /tmp -U loader -d postgres -q -v ON_ERROR_STOP=1 >/dev/null`], { maxBuffer: 1 << 26 }), // prettier-ignore
            );
            // The load is whole: the same tables, rows and relations as the source.
            const probe = "SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE 'rel_%') || ' ' || coalesce((SELECT count(*) FROM pg_tables WHERE tablename = 'pgbench_accounts'), 0)"; // prettier-ignore
            const there = await docker("exec", "-u", "postgres", target, "psql", "-h", "/tmp", "-d", "postgres", "-XAtc", probe); // prettier-ignore
            const here = (await query<{ v: string }>(urls["pg-1"], `${probe} AS v`))[0].v;
            if (there !== here) throw new Error(`the dump's target has ${there}, the source ${here}`);
            if (set.label.startsWith("pgbench")) {
                const [a, b] = await Promise.all([
                    docker("exec", "-u", "postgres", target, "psql", "-h", "/tmp", "-d", "postgres", "-XAtc", "SELECT count(*) FROM pgbench_accounts"), // prettier-ignore
                    query<{ n: string }>(urls["pg-1"], "SELECT count(*)::text AS n FROM pgbench_accounts"),
                ]);
                if (a !== b[0].n) throw new Error(`the dump's target has ${a} accounts, the source ${b[0].n}`);
            }
        } finally {
            await docker("rm", "-f", target).catch(() => undefined);
        }

        const title = `postgresVersion 15 -> 17 of a 1 + 2 cascade holding ${set.label} (${size}), one run each`;
        const dumpRow: Row = { label: "pg_dumpall | psql into a new 17: writes stopped", unit: "s", values: [dumpAll] };
        const cnpgDown: Row = {
            label: "CloudNativePG's way: writes stopped (same stop and link, no rsync; derived)",
            unit: "s",
            values: [writer.maxGapMs / 1000 - following],
        };
        printTable(`${title}: write downtime`, [
            dumpRow,
            cnpgDown,
            { label: "pgtopo: longest gap of a recording writer", unit: "s", values: [writer.maxGapMs / 1000], baseline: dumpRow }, // prettier-ignore
        ]);
        const cnpgTotal: Row = {
            label: "CloudNativePG's way: stopped + 2 standbys cloned anew",
            unit: "s",
            values: [stopped - following + reclone],
        };
        printTable(`${title}: until every node runs 17`, [
            cnpgTotal,
            { label: "pgtopo: nodes stopped (check, stop, link, rsync)", unit: "s", values: [stopped] },
            { label: "pgtopo: the whole pulumi up", unit: "s", values: [total], baseline: cnpgTotal },
        ]);
        const recloneBytes: Row = {
            label: "a new base backup per standby (2)",
            unit: "B",
            values: [2 * Number(bytes)],
        };
        printTable(`${title}: copied to the standbys`, [
            recloneBytes,
            { label: "pgtopo: rsync --hard-links (2 standbys)", unit: "B", values: [copied], baseline: recloneBytes },
        ]);
        console.log(
            `${set.label}: no acknowledged commit lost (${committed.length} ids on pg-3); ` +
                `pg_upgrade --link ${secondsIn(log, /pg_upgrade --link done in ([\d.]+) s/)} s, standbys' rsync ${following} s, ` +
                `copied ${((100 * copied) / (2 * Number(bytes))).toFixed(1)} % of what two base backups copy`,
        );
    } finally {
        await stack.dispose();
    }
}

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: { scale: { type: "string", default: "100" }, relations: { type: "string", default: "10000" } },
    });
    await benchOne({ label: `pgbench scale ${values.scale}`, load: (c, url) => loadPgbench(c, url, values.scale) });
    await benchOne({
        label: `a schema of ${values.relations} tables`,
        load: (c, url) => createRelations(c, url, Number(values.relations)),
    });
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});

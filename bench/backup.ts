/**
 * Backups of a database that holds data (pgbench scale 100 is about 1.5 GB), in one run:
 * - the baseline: a bare `pg_basebackup` of the same data, from the primary's container;
 * - a full backup into the repository (`pgtopo-backup full`, what `npm run backup` runs),
 *   of the primary alone and, with a standby there, reading the standby;
 * - a standby added by `pulumi up`, cloned from its upstream (pg_basebackup) and restored
 *   from the repository (pgtopo:backup.standbysFrom), each until it streams;
 * - a new stack restored from the repository to "latest" (pgtopo:restore), `pulumi up`.
 * With `--repository s3`, the repository is in the test object store (SeaweedFS over TLS,
 * scripts/test-object-store.sh) instead of the stack's volume; with `--repository host`,
 * on the stack's repository host (pgtopo:backup.repositoryHost, on this machine), where the
 * backups then run, reading the nodes through their pgBackRest servers.
 *
 *   npm run bench:backup [-- --runs 3 --scale 100 --repository volume|s3|host]
 */
import { parseArgs } from "node:util";
import { docker } from "../tests/support/docker";
import { query } from "../tests/support/postgres";
import { startTestObjectStore, type TestObjectStore } from "../tests/support/object-store";
import { freePorts, TestStack, type ClusterSpec } from "../tests/support/stack";
import { bareBasebackup, loadPgbench } from "./primary-data";
import { printTable, seconds, type Row } from "./stats";

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: {
            runs: { type: "string", default: "3" },
            scale: { type: "string", default: "100" },
            repository: { type: "string", default: "volume" },
        },
    });
    if (!["volume", "s3", "host"].includes(values.repository)) {
        throw new Error(`--repository: "${values.repository}" is not allowed; allowed: volume, s3, host`);
    }
    const store: TestObjectStore | undefined = values.repository === "s3" ? await startTestObjectStore() : undefined;
    // The repository's settings for a stack of this run (the source, and the restored copy).
    const kind = store ? { s3: store.s3 } : values.repository === "host" ? { repositoryHost: {} } : {};
    const runs = Number(values.runs);
    const accounts = Number(values.scale) * 100000;
    const [p1, p2, p3] = await freePorts(3);
    const stack = await TestStack.create("bench-bk");
    const backupVolume = `pgtopo-${stack.name}-backups`;
    // Retention above the number of backups a run takes: none expires while the run reads it.
    const one = (standbysFrom: "upstream" | "repository"): ClusterSpec => ({
        primary: "pg-1",
        nodes: [{ name: "pg-1", port: p1 }],
        backup: { retention: { full: 4 }, standbysFrom, ...kind },
    });
    const two = (standbysFrom: "upstream" | "repository"): ClusterSpec => ({
        ...one(standbysFrom),
        nodes: [...one(standbysFrom).nodes, { name: "pg-2", port: p2 }],
    });
    const accountsOn = async (target: TestStack, node: string) => {
        const [{ n }] = await query<{ n: number }>(
            (await target.connectionStrings())[node],
            "SELECT count(*)::int AS n FROM pgbench_accounts",
        );
        if (n !== accounts) throw new Error(`${target.name}/${node} has ${n} accounts, not ${accounts}`);
    };
    try {
        await stack.configure(one("upstream"));
        await stack.stack.setConfig("pgtopo:deleteDataOnRemove", { value: "true" });
        await stack.up();
        const container = stack.container("pg-1");
        // Where `npm run backup` runs: the primary, or the repository host's container.
        const backs = values.repository === "host" ? `pgtopo-${stack.name}-repository` : container;
        const size = await loadPgbench(container, (await stack.connectionStrings())["pg-1"], values.scale);

        const bare: number[] = [];
        const backup: number[] = [];
        const backupFromStandby: number[] = [];
        const fromUpstream: number[] = [];
        const fromRepository: number[] = [];
        const restore: number[] = [];
        for (let i = 0; i < runs; i++) {
            bare.push(await seconds(() => bareBasebackup(container)));
            backup.push(await seconds(() => docker("exec", backs, "pgtopo-backup", "full")));

            for (const [from, times] of [
                ["upstream", fromUpstream],
                ["repository", fromRepository],
            ] as const) {
                await stack.configure(two(from));
                times.push(await seconds(() => stack.up()));
                await accountsOn(stack, "pg-2");
                if (from === "upstream") {
                    // With a standby there, the backup reads its files instead of the primary's.
                    let out = "";
                    backupFromStandby.push(
                        await seconds(async () => (out = await docker("exec", backs, "pgtopo-backup", "full"))),
                    );
                    if (!/done from (pg-2|a standby)/.test(out)) throw new Error(`not from the standby: ${out}`);
                }
                await stack.configure(one(from));
                await stack.up();
            }

            const copy = await TestStack.create("bench-rs");
            try {
                await copy.configure({
                    primary: "pg-1",
                    nodes: [{ name: "pg-1", port: p3 }],
                    restore: { fromStack: stack.name },
                    ...(store || values.repository === "host" ? { backup: kind } : {}),
                });
                restore.push(await seconds(() => copy.up()));
                await accountsOn(copy, "pg-1");
            } finally {
                await copy.dispose();
                await docker("volume", "rm", "-f", `pgtopo-${copy.name}-backups`).catch(() => undefined);
            }
            console.log(
                `run ${i + 1}/${runs}: bare pg_basebackup ${bare[i].toFixed(1)} s, full backup ${backup[i].toFixed(1)} s ` +
                    `(reading the standby ${backupFromStandby[i].toFixed(1)} s), ` +
                    `standby from upstream ${fromUpstream[i].toFixed(1)} s, from repository ${fromRepository[i].toFixed(1)} s, ` +
                    `restore into a new stack ${restore[i].toFixed(1)} s`,
            );
        }
        const repository = store
            ? `${store.s3.endpoint}/${store.s3.bucket}/pgtopo/${stack.name}`
            : (await docker("run", "--rm", "-v", `${backupVolume}:/r:ro`, "--entrypoint", "du",
                  await imageOf(container), "-sh", "/r/backup")).split(/\s/)[0]; // prettier-ignore
        const baseline: Row = { label: "bare pg_basebackup -X stream (baseline)", unit: "s", values: bare };
        printTable(
            `backups of a primary holding ${size} (pgbench scale ${values.scale}), ${runs} runs each; ` +
                `repository (${values.repository}): ${repository} (lz4)`,
            [
                baseline,
                { label: "full backup, primary alone (reads the primary)", unit: "s", values: backup, baseline },
                { label: "full backup, primary + standby (reads the standby)", unit: "s", values: backupFromStandby, baseline }, // prettier-ignore
                { label: "add a standby, cloned from its upstream: pulumi up", unit: "s", values: fromUpstream, baseline }, // prettier-ignore
                { label: "add a standby, restored from the repository: pulumi up", unit: "s", values: fromRepository, baseline }, // prettier-ignore
                { label: "restore into a new stack (latest): pulumi up", unit: "s", values: restore, baseline },
            ],
        );
    } finally {
        await stack.dispose();
        await docker("volume", "rm", "-f", backupVolume).catch(() => undefined);
        if (store) await store.remove();
    }
}

/** The image a container runs (the repository's size is read with the same image). */
function imageOf(container: string): Promise<string> {
    return docker("container", "inspect", "-f", "{{.Config.Image}}", container);
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});

/**
 * Adding a standby to a primary that holds data: pgtopo's `pulumi up` (slot, clone
 * through it, start, settings, follow) against a bare `pg_basebackup` of the same data
 * over the same network, run from the primary's container, in the same run.
 *
 *   npm run bench:clone [-- --runs 3 --scale 100]     (pgbench scale 100 is about 1.5 GB)
 */
import { parseArgs } from "node:util";
import { query } from "../tests/support/postgres";
import { freePorts, TestStack, type NodeSpec } from "../tests/support/stack";
import { bareBasebackup, loadPgbench } from "./primary-data";
import { printTable, seconds, type Row } from "./stats";

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: { runs: { type: "string", default: "3" }, scale: { type: "string", default: "100" } },
    });
    const runs = Number(values.runs);
    const [p1, p2] = await freePorts(2);
    const primary: NodeSpec = { name: "pg-1", port: p1 };
    const stack = await TestStack.create("bench-cl");
    try {
        await stack.configure({ primary: "pg-1", nodes: [primary] });
        await stack.stack.setConfig("pgtopo:deleteDataOnRemove", { value: "true" });
        await stack.up();
        const urls = await stack.connectionStrings();
        const container = stack.container("pg-1");
        const size = await loadPgbench(container, urls["pg-1"], values.scale);

        const bare: number[] = [];
        const pgtopo: number[] = [];
        for (let i = 0; i < runs; i++) {
            bare.push(await seconds(() => bareBasebackup(container)));
            await stack.configure({ primary: "pg-1", nodes: [primary, { name: "pg-2", port: p2 }] });
            pgtopo.push(await seconds(() => stack.up()));
            console.log(`run ${i + 1}/${runs}: bare ${bare[i].toFixed(1)} s, pgtopo ${pgtopo[i].toFixed(1)} s`);
            const [{ n }] = await query<{ n: number }>(
                (await stack.connectionStrings())["pg-2"],
                "SELECT count(*)::int AS n FROM pgbench_accounts",
            );
            if (n !== Number(values.scale) * 100000) throw new Error(`pg-2 has ${n} accounts`);
            await stack.configure({ primary: "pg-1", nodes: [primary] });
            await stack.up();
        }
        const baseline: Row = { label: "bare pg_basebackup -X stream", unit: "s", values: bare };
        printTable(`add a standby to a primary holding ${size} (pgbench scale ${values.scale}), ${runs} runs each`, [
            baseline,
            { label: "pgtopo: add the node, pulumi up", unit: "s", values: pgtopo, baseline },
        ]);
    } finally {
        await stack.dispose();
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});

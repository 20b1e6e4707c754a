/**
 * How fast pgtopo converges, against the tutorials' way by hand in the same run:
 *  - cold `pulumi up` of a primary + standby + cascaded standby, against bench/by-hand.sh
 *    doing the same with plain docker commands (the node image exists for both);
 *  - a no-op `pulumi up` on the converged stack;
 *  - with --scale: cold converge of 1 + 1, 1 + 2, 1 + 4, 1 + 8 standbys.
 *
 *   npm run bench:converge [-- --runs 3] [--scale]
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { promisify } from "node:util";
import { freePorts, TestStack, type NodeSpec } from "../tests/support/stack";
import { printTable, type Row } from "./stats";

const run = promisify(execFile);
const BY_HAND = path.join(__dirname, "by-hand.sh");

async function seconds(work: () => Promise<unknown>): Promise<number> {
    const started = performance.now();
    await work();
    return (performance.now() - started) / 1000;
}

async function pgtopoCold(nodes: NodeSpec[]): Promise<{ cold: number; noop: number }> {
    const stack = await TestStack.create("bench-cv");
    try {
        await stack.configure({ primary: nodes[0].name, nodes });
        const cold = await seconds(() => stack.up());
        const noop = await seconds(() => stack.up());
        return { cold, noop };
    } finally {
        await stack.dispose();
    }
}

function layout(standbys: number, ports: number[], cascade: boolean): NodeSpec[] {
    return Array.from({ length: standbys + 1 }, (_, i) => ({
        name: `pg-${i + 1}`,
        port: ports[i],
        // With cascade, the last standby streams from the one before it.
        upstream: cascade && i === standbys && i >= 2 ? `pg-${i}` : undefined,
    }));
}

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: { runs: { type: "string", default: "3" }, scale: { type: "boolean", default: false } },
    });
    const runs = Number(values.runs);
    const ports = await freePorts(9);

    // Warm-up: builds the node image once, so neither side pays for it below.
    await pgtopoCold(layout(1, ports, false));

    const hand: number[] = [];
    const cold: number[] = [];
    const noop: number[] = [];
    for (let i = 0; i < runs; i++) {
        const name = `pgtopo-bench-hand-${i}`;
        try {
            hand.push(await seconds(() => run("bash", [BY_HAND, "up", name, ...ports.slice(0, 3).map(String)])));
        } finally {
            await run("bash", [BY_HAND, "down", name]);
        }
        const result = await pgtopoCold(layout(2, ports, true));
        cold.push(result.cold);
        noop.push(result.noop);
    }
    const baseline: Row = { label: "by hand (docker + initdb + pg_basebackup)", unit: "s", values: hand };
    printTable(`converge a primary + standby + cascaded standby, ${runs} runs each`, [
        baseline,
        { label: "pgtopo cold pulumi up", unit: "s", values: cold, baseline },
        { label: "pgtopo no-op pulumi up", unit: "s", values: noop, baseline },
    ]);

    if (values.scale) {
        const rows: Row[] = [];
        let first: Row | undefined;
        for (const standbys of [1, 2, 4, 8]) {
            const times: number[] = [];
            for (let i = 0; i < runs; i++) times.push((await pgtopoCold(layout(standbys, ports, false))).cold);
            const row: Row = { label: `1 + ${standbys} standbys, cold`, unit: "s", values: times, baseline: first };
            rows.push(row);
            first ??= row;
        }
        printTable(`scale: cold converge by number of standbys, ${runs} runs each (ratio against 1 + 1)`, rows);
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});

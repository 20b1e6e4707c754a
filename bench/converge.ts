/**
 * How fast pgtopo converges, against the tutorials' way by hand in the same run:
 *  - by hand: bench/by-hand.sh makes a primary + standby + cascaded standby with plain
 *    docker commands (the baseline);
 *  - the floor: the same by-hand steps, each run by a Pulumi Command resource
 *    (bench/floor), which is what the Pulumi engine alone costs on top of them;
 *  - pgtopo: a cold `pulumi up` of the same layout, and a no-op `pulumi up` after it;
 *  - with --scale: cold converge of 1 + 1, 1 + 2, 1 + 4, 1 + 8 standbys.
 * Every `pulumi up` is the CLI itself, as `npm run up` runs it. The node image exists
 * for all of them (a warm-up stack builds it first).
 *
 *   npm run bench:converge [-- --runs 3] [--scale]
 */
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import * as path from "node:path";
import { parseArgs, promisify } from "node:util";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { freePorts, PROJECT_DIR, TestStack, type NodeSpec } from "../tests/support/stack";
import { printTable, seconds, type Row } from "./stats";

const run = promisify(execFile);
const BY_HAND = path.join(__dirname, "by-hand.sh");
const FLOOR_DIR = path.join(__dirname, "floor");

/** `pulumi up` of a stack by the CLI, as a user runs it. */
const cliUp = (dir: string, stack: string) =>
    run("pulumi", ["up", "--yes", "--skip-preview", "--stack", stack], { cwd: dir, maxBuffer: 64 << 20 });

async function pgtopoCold(nodes: NodeSpec[]): Promise<{ cold: number; noop: number }> {
    const stack = await TestStack.create("bench-cv");
    try {
        await stack.configure({ primary: nodes[0].name, nodes });
        const cold = await seconds(() => cliUp(PROJECT_DIR, stack.name));
        const noop = await seconds(() => cliUp(PROJECT_DIR, stack.name));
        return { cold, noop };
    } finally {
        await stack.dispose();
    }
}

async function floor(ports: number[], run: number): Promise<number> {
    const name = `pgtopo-bench-floor-${run}`;
    const stack = await LocalWorkspace.createOrSelectStack({ stackName: name, workDir: FLOOR_DIR });
    try {
        await stack.setAllConfig({
            "pgtopo-floor:name": { value: name },
            "pgtopo-floor:ports": { value: JSON.stringify(ports) },
        });
        return await seconds(() => cliUp(FLOOR_DIR, name));
    } finally {
        await stack.destroy();
        await stack.workspace.removeStack(name, { force: true });
        rmSync(path.join(FLOOR_DIR, `Pulumi.${name}.yaml`), { force: true });
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

    // Warm-up: builds the node image once, so no row below pays for it.
    await pgtopoCold(layout(1, ports, false));

    const hand: number[] = [];
    const floors: number[] = [];
    const cold: number[] = [];
    const noop: number[] = [];
    for (let i = 0; i < runs; i++) {
        const name = `pgtopo-bench-hand-${i}`;
        try {
            hand.push(await seconds(() => run("bash", [BY_HAND, "up", name, ...ports.slice(0, 3).map(String)])));
        } finally {
            await run("bash", [BY_HAND, "down", name]);
        }
        floors.push(await floor(ports.slice(0, 3), i));
        const result = await pgtopoCold(layout(2, ports, true));
        cold.push(result.cold);
        noop.push(result.noop);
        console.log(
            `run ${i + 1}/${runs}: by hand ${hand[i].toFixed(1)} s, floor ${floors[i].toFixed(1)} s, ` +
                `pgtopo cold ${cold[i].toFixed(1)} s, no-op ${noop[i].toFixed(1)} s`,
        );
    }
    const baseline: Row = { label: "by hand (docker + initdb + pg_basebackup)", unit: "s", values: hand };
    printTable(`converge a primary + standby + cascaded standby, ${runs} runs each`, [
        baseline,
        { label: "floor: the by-hand steps as Pulumi Commands", unit: "s", values: floors, baseline },
        { label: "pgtopo cold pulumi up", unit: "s", values: cold, baseline },
        { label: "pgtopo no-op pulumi up", unit: "s", values: noop, baseline },
    ]);

    if (values.scale) {
        const rows: Row[] = [];
        let first: Row | undefined;
        for (const standbys of [1, 2, 4, 8]) {
            const times: number[] = [];
            for (let i = 0; i < runs; i++) {
                times.push((await pgtopoCold(layout(standbys, ports, false))).cold);
                console.log(`run ${i + 1}/${runs}: 1 + ${standbys} cold ${times[i].toFixed(1)} s`);
            }
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

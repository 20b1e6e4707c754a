/**
 * A cold `pulumi up` of the same layout (1 + 2 with a cascade) by this tree and by an
 * earlier commit, alternating run by run, so that both meet the same machine: on two
 * cores the converge bench's figures move by a few tenths of a second from one run to the
 * next, more than a change under test may be worth. The earlier commit is checked out in
 * a temporary git worktree that shares this tree's node_modules.
 *
 *   npm run bench:compare -- --against 0b96dc6 [--runs 6] [--earlier-path DIR]
 *
 * --earlier-path puts DIR first on PATH for the earlier commit's `up`s: a `pulumi` with the
 * language host that commit ran with (the CLI takes the host beside itself). Commits before
 * ec7996f set Pulumi.yaml options (`nodeargs: --import tsx`) that the toolchain's host then
 * ignored and reads now: with today's host they run in a way they never ran.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseArgs, promisify } from "node:util";
import { printTable, seconds } from "./stats";
import { freePorts, PROJECT_DIR, type NodeSpec } from "../tests/support/stack";

const run = promisify(execFile);

/** One cold up of a new stack made by `dir`'s own test support (its program, its state). */
async function coldUp(dir: string, nodes: NodeSpec[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the other tree's copy, by path
    const { TestStack } = require(
        path.join(dir, "tests", "support", "stack"),
    ) as typeof import("../tests/support/stack");
    const stack = await TestStack.create("bench-cc");
    try {
        await stack.configure({ primary: "pg-1", nodes });
        // What the last run's destroy left Docker to do is done before the clock starts.
        await new Promise((resolve) => setTimeout(resolve, 3000));
        return await seconds(() =>
            run("pulumi", ["up", "--yes", "--skip-preview", "--stack", stack.name], {
                cwd: dir,
                env,
                maxBuffer: 64 << 20,
            }),
        );
    } finally {
        await stack.dispose();
    }
}

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: {
            against: { type: "string" },
            runs: { type: "string", default: "6" },
            "earlier-path": { type: "string" },
        },
    });
    if (!values.against) throw new Error("--against COMMIT is required");
    const runs = Number(values.runs);
    const earlierEnv = values["earlier-path"]
        ? { ...process.env, PATH: `${path.resolve(values["earlier-path"])}${path.delimiter}${process.env.PATH}` }
        : process.env;
    const git = (...args: string[]) => run("git", args, { cwd: PROJECT_DIR });
    const { stdout: commit } = await git("rev-parse", "--short", values.against);
    const worktree = mkdtempSync(path.join(tmpdir(), "pgtopo-compare-"));
    await git("worktree", "add", "--detach", worktree, commit.trim());
    symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(worktree, "node_modules"));
    try {
        const ports = await freePorts(3);
        const nodes = ports.map((port, i) => ({ name: `pg-${i + 1}`, port, upstream: i === 2 ? "pg-2" : undefined }));
        const before: number[] = [];
        const now: number[] = [];
        for (let i = 0; i < runs; i++) {
            // Which goes first alternates too.
            if (i % 2 === 0) before.push(await coldUp(worktree, nodes, earlierEnv));
            now.push(await coldUp(PROJECT_DIR, nodes));
            if (i % 2 === 1) before.push(await coldUp(worktree, nodes, earlierEnv));
            console.log(
                `run ${i + 1}/${runs}: ${commit.trim()} ${before[i].toFixed(2)} s, this tree ${now[i].toFixed(2)} s`,
            );
        }
        const earlier = { label: `commit ${commit.trim()}`, unit: "s", decimals: 2, values: before };
        printTable(`cold pulumi up, 1 + 2 with a cascade, ${runs} runs each, alternating`, [
            earlier,
            { label: "this tree", unit: "s", decimals: 2, values: now, baseline: earlier },
        ]);
    } finally {
        await git("worktree", "remove", "--force", worktree);
        rmSync(worktree, { recursive: true, force: true });
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});

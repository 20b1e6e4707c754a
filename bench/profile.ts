/**
 * Where the time of one `pulumi up` goes: runs the CLI on a throwaway stack with its
 * engine event log on a FIFO, stamps each event as it arrives, and prints every resource
 * step with when it started and how long it took, from the moment the CLI was started.
 * The engine's own event timestamps are whole seconds; a FIFO read as it is written gives
 * milliseconds.
 *
 *   npm run bench:profile [-- --standbys 2 --cascade]     a cold up, then a no-op up
 */
import { spawn, execFileSync } from "node:child_process";
import { closeSync, constants, createReadStream, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { freePorts, PROJECT_DIR, TestStack, type NodeSpec } from "../tests/support/stack";

interface Step {
    readonly urn: string;
    readonly op: string;
    readonly start: number;
    end?: number;
}

/** `pgtopo-pg-2-clone` from the URN's last part, the resource's own name. */
const shortName = (urn: string) => urn.split("::").pop() ?? urn;

export async function profileUp(stackName: string): Promise<{ total: number; firstEvent: number; steps: Step[] }> {
    const dir = mkdtempSync(path.join(tmpdir(), "pgtopo-profile-"));
    const fifo = path.join(dir, "events");
    execFileSync("mkfifo", [fifo]);
    const started = performance.now();
    const at = () => (performance.now() - started) / 1000;
    const cli = spawn("pulumi", ["up", "--yes", "--skip-preview", "--stack", stackName, "--event-log", fifo], {
        cwd: PROJECT_DIR,
        // --event-log is one of the CLI's debug flags (the Automation API sets this too).
        env: { ...process.env, PULUMI_DEBUG_COMMANDS: "true" },
        stdio: ["ignore", "ignore", "inherit"],
    });
    const exited = new Promise<number>((resolve) =>
        cli.on("exit", (code) => {
            // A CLI that failed before it opened the FIFO would leave the reader waiting.
            try {
                closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
            } catch {
                // no reader left: it saw the CLI's own end of the FIFO
            }
            resolve(code ?? 1);
        }),
    );
    const steps = new Map<string, Step>();
    let firstEvent = NaN;
    for await (const line of createInterface({ input: createReadStream(fifo) })) {
        const now = at();
        if (Number.isNaN(firstEvent)) firstEvent = now;
        const event = JSON.parse(line) as {
            resourcePreEvent?: { metadata: { urn: string; op: string } };
            resOutputsEvent?: { metadata: { urn: string } };
            resOpFailedEvent?: { metadata: { urn: string } };
        };
        const pre = event.resourcePreEvent?.metadata;
        if (pre && pre.op !== "same") steps.set(pre.urn, { urn: pre.urn, op: pre.op, start: now });
        const done = (event.resOutputsEvent ?? event.resOpFailedEvent)?.metadata;
        const step = done && steps.get(done.urn);
        if (step) step.end = now;
    }
    const code = await exited;
    rmSync(dir, { recursive: true, force: true });
    if (code !== 0) throw new Error(`pulumi up exited with ${code}`);
    return { total: at(), firstEvent, steps: [...steps.values()].sort((a, b) => a.start - b.start) };
}

export function printProfile(title: string, profile: Awaited<ReturnType<typeof profileUp>>): void {
    const table = new Table({
        head: ["resource", "op", "starts at", "takes", "ends at"],
        style: { head: [], border: [] },
    });
    const s = (v: number | undefined) => (v === undefined ? "-" : `${v.toFixed(2)} s`);
    table.push(["(CLI start, plugins, program until its first resource)", "", s(0), s(profile.firstEvent), ""]);
    for (const step of profile.steps) {
        table.push([shortName(step.urn), step.op, s(step.start), s(step.end && step.end - step.start), s(step.end)]);
    }
    table.push(["(whole pulumi up, to the CLI's exit)", "", s(0), s(profile.total), s(profile.total)]);
    console.log(`\n${title}\n${table.toString()}`);
}

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: { standbys: { type: "string", default: "2" }, cascade: { type: "boolean", default: true } },
    });
    const standbys = Number(values.standbys);
    const ports = await freePorts(standbys + 1);
    const nodes: NodeSpec[] = ports.map((port, i) => ({
        name: `pg-${i + 1}`,
        port,
        // With --cascade the last standby streams from the one before it (seed 000's layout).
        upstream: values.cascade && i === standbys && i >= 2 ? `pg-${i}` : undefined,
    }));
    const stack = await TestStack.create("bench-pf");
    try {
        await stack.configure({ primary: "pg-1", nodes });
        printProfile(
            `cold pulumi up, 1 + ${standbys}${values.cascade ? " with a cascade" : ""}`,
            await profileUp(stack.name),
        );
        printProfile("no-op pulumi up of the same stack", await profileUp(stack.name));
    } finally {
        await stack.dispose();
    }
}

if (require.main === module) {
    main().catch((err) => {
        console.error(err);
        process.exitCode = 1;
    });
}

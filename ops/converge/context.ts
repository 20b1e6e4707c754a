import type { ConvergeRequest } from "../../planning/convergence";
import type { PlannedNode } from "../../planning/topology";
import type { NodeDriver } from "../driver";
import type { RouterDriver } from "../routers";

/** Time, as the converge step sees it: the real one, or a test's, which never waits. */
export interface Clock {
    now(): number;
    sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** What every step of the converge step works with. */
export interface ConvergeContext {
    readonly request: ConvergeRequest;
    readonly driver: NodeDriver;
    /** pgtopo:endpoints: the routers (request.routers) are acted on through this. */
    readonly routers: RouterDriver;
    readonly log: (line: string) => void;
    readonly clock: Clock;
}

/** A node of the request by name (every name a step uses is one of the request's). */
export function nodeNamed(ctx: ConvergeContext, name: string): PlannedNode {
    const node = ctx.request.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name} in the converge request`);
    return node;
}

/** The node a standby streams from. */
export const upstreamOf = (ctx: ConvergeContext, node: PlannedNode) => nodeNamed(ctx, node.upstream!);

/** The configured primary. */
export const targetOf = (ctx: ConvergeContext) => nodeNamed(ctx, ctx.request.target);

/**
 * Polls `check` every 0.2 s until it says yes (true), or says so in the log and returns
 * false after `seconds`. A check that throws counts as a no.
 */
export async function waitUntil(
    ctx: ConvergeContext,
    what: string,
    seconds: number,
    check: () => Promise<boolean>,
): Promise<boolean> {
    for (const end = ctx.clock.now() + seconds * 1000; ctx.clock.now() < end; await ctx.clock.sleep(200)) {
        if (await check().catch(() => false)) return true;
    }
    ctx.log(`${what}: not within ${seconds}s`);
    return false;
}

/** Why a one-shot failed: the last few error lines of its stderr, not a whole server log. */
export function whyFailed(text: string, count = 4): string {
    const lines = text.trim().split("\n");
    const errors = lines.filter((l) => /error|detail|PANIC|FATAL/.test(l));
    return (errors.length > 0 ? errors : lines).slice(-count).join("\n");
}

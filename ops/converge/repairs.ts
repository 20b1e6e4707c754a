import { SCRIPTS } from "../../contract/image";
import type { Repair } from "../../planning/repair";
import type { PlannedNode } from "../../planning/topology";
import { nodeNamed, upstreamOf, whyFailed, type ConvergeContext } from "./context";
import { reclone, rejoin } from "./rejoin";
import { streamOrSayWhy } from "./streaming";

const createSlot = (ctx: ConvergeContext, on: PlannedNode, slot: string) =>
    ctx.driver.run(on, SCRIPTS.slot, ["create", slot]);
const dropSlot = (ctx: ConvergeContext, on: PlannedNode, slot: string) =>
    ctx.driver.run(on, SCRIPTS.slot, ["drop", slot]);

/**
 * A standby that should stream: waited for, and rewound or re-cloned when what it and its
 * upstream say shows it cannot as it is (planning/streaming.ts).
 */
export async function untilStreaming(
    ctx: ConvergeContext,
    node: PlannedNode,
    seconds: number,
    since: string,
): Promise<void> {
    const upstream = upstreamOf(ctx, node);
    const { why, lastLog } = await streamOrSayWhy(ctx, node, seconds, since);
    if (why === "streaming") return;
    if (why === "wal-gone") {
        ctx.log(`${node.name}: ${upstream.name} no longer has the WAL it needs`);
        await dropSlot(ctx, upstream, node.slot!);
        return reclone(ctx, node, false);
    }
    if (why === "diverged") {
        ctx.log(`${node.name}: its WAL went past the point where ${upstream.name}'s timeline forked`);
        return rejoin(ctx, node);
    }
    if (why === "no-data") {
        // A standby's copy holds nothing its upstream lacks: a new one is all it needs.
        ctx.log(`${node.name}: its volume holds no data directory (lost outside pgtopo); it waits for one`);
        return reclone(ctx, node, false);
    }
    throw new Error(
        `${node.name} does not stream from ${upstream.name}; its last log lines:\n${whyFailed(lastLog, 8)}`,
    );
}

/** Does one repair of planning/repair.ts to a node. */
export async function repair(ctx: ConvergeContext, node: PlannedNode, r: Repair): Promise<void> {
    const now = () => new Date(ctx.clock.now()).toISOString();
    switch (r.action) {
        case "create-slot": {
            const on = nodeNamed(ctx, r.on!);
            if (r.replace) await dropSlot(ctx, on, r.slot!);
            await createSlot(ctx, on, r.slot!);
            return ctx.log(`slot ${r.slot} present on ${on.name}`);
        }
        case "start": {
            const state = await ctx.driver.container(node);
            if (state === "missing") {
                throw new Error(
                    `container ${node.container} does not exist (removed outside pgtopo, and not yet recreated); ` +
                        `run 'pulumi up' again to recreate it on its volume`,
                );
            }
            const since = now();
            if (state !== "running") await ctx.driver.start(node);
            await untilStreaming(ctx, node, 60, since);
            return ctx.log(`${node.name} started; it streams from ${upstreamOf(ctx, node).name}`);
        }
        case "rejoin":
            return rejoin(ctx, node);
        case "reclone":
            return reclone(ctx, node, false);
        case "repoint": {
            const since = now();
            const upstream = upstreamOf(ctx, node);
            ctx.log(await ctx.driver.run(node, SCRIPTS.follow, [upstream.endpoint, node.slot!, "--no-wait"]));
            return untilStreaming(ctx, node, 60, since);
        }
        case "check-streaming":
            // It has been failing for a while if at all: what it said lately explains why.
            return untilStreaming(ctx, node, 60, "20s");
        case "drop-slot":
            await dropSlot(ctx, nodeNamed(ctx, r.on!), r.slot!);
            return ctx.log(`slot ${r.slot} dropped from ${r.on}`);
    }
}

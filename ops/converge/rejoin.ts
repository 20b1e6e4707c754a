import { ENV, EXIT, SCRIPTS } from "../../contract/image";
import type { PlannedNode } from "../../planning/topology";
import { ScriptFailure } from "../driver";
import { targetOf, upstreamOf, whyFailed, type ConvergeContext } from "./context";
import { fence } from "./fence";
import { streamOrSayWhy } from "./streaming";

/** Now, as the node's log reads times: where a wait for its log starts. */
const now = (ctx: ConvergeContext) => new Date(ctx.clock.now()).toISOString();

/** Only says what happened: nothing can be started or waited for without a container. */
function reportNoContainer(ctx: ConvergeContext, node: PlannedNode, upstream: PlannedNode, how: string): void {
    ctx.log(
        `${node.name} has no container; its data is now a standby's of ${upstream.name} (${how}), ` +
            `so it streams from there once the next 'pulumi up' recreates the container`,
    );
}

/**
 * A node that cannot stream with the data it has, cloned afresh from its upstream through
 * its slot. Data that may hold writes that exist nowhere else (a node that was a primary,
 * or went past the fork: `keep`) is set aside in its volume, never deleted; a standby's
 * copy of what its upstream has is simply replaced.
 */
export async function reclone(
    ctx: ConvergeContext,
    node: PlannedNode,
    keep: boolean,
    hasContainer = true,
): Promise<void> {
    const upstream = upstreamOf(ctx, node);
    ctx.log(
        keep
            ? `${node.name} cannot rejoin ${upstream.name} with its own data: cloning it afresh`
            : `${node.name} cannot stream from ${upstream.name} with the data it has: cloning it afresh`,
    );
    if (hasContainer) await ctx.driver.stop(node, 60);
    if (keep) {
        const kept = await ctx.driver.oneShot(node, SCRIPTS.setAside);
        if (kept)
            ctx.log(`${node.name}'s diverged data is kept at ${kept} in volume ${node.volume}; remove it when done`);
    } else {
        await ctx.driver.oneShot(node, SCRIPTS.setAside, ["discard"]);
    }
    // pgtopo-clone makes the standby's slot on its upstream first, if it is missing.
    const cloneEnv = [`${ENV.upstream}=${upstream.endpoint}`, `${ENV.slot}=${node.slot}`, ENV.replicationPassword];
    ctx.log(await ctx.driver.oneShot(node, SCRIPTS.clone, [], cloneEnv));
    if (!hasContainer) return reportNoContainer(ctx, node, upstream, "re-cloned");
    const since = now(ctx);
    await ctx.driver.start(node);
    const { why, lastLog } = await streamOrSayWhy(ctx, node, 60, since);
    if (why !== "streaming") {
        throw new Error(
            `${node.name} was re-cloned from ${upstream.name} but does not stream from it:\n${whyFailed(lastLog, 8)}`,
        );
    }
    ctx.log(`${node.name} rejoined as a standby of ${upstream.name}, re-cloned`);
}

/**
 * A node that may hold a primary's data (or WAL past a fork) -> a standby of its planned
 * upstream. Fenced first; pg_rewind then decides whether its WAL went past the fork and
 * rewinds it if so, keeping the WAL it discards aside in the volume (pgtopo-rewind says
 * which by its exit code). When it cannot (WAL gone, unrelated history) or the node still
 * does not stream, its data directory is set aside (never deleted) and it is cloned
 * afresh. All of it works on the volume, so a node whose container was removed is fenced
 * all the same: whenever its container is recreated, it starts as a standby.
 */
export async function rejoin(ctx: ConvergeContext, node: PlannedNode): Promise<void> {
    const upstream = upstreamOf(ctx, node);
    const hasContainer = await fence(ctx, node);
    // A one-shot's `-v` would create a missing volume: look first.
    if (!(await ctx.driver.hasVolume(node))) {
        ctx.log(`${node.name} has no volume ${node.volume}: no data that could come back as a primary`);
        return;
    }
    await ctx.driver.run(upstream, SCRIPTS.slot, ["create", node.slot!]);
    const rewind = await ctx.driver
        .oneShot(node, SCRIPTS.rewind, [targetOf(ctx).endpoint, upstream.endpoint, node.slot!])
        .then(
            (out) => ({ ok: true, needed: true, out }),
            (err: Error) =>
                err instanceof ScriptFailure && err.code === EXIT.noRewindNeeded
                    ? { ok: true, needed: false, out: err.stdout.trim() }
                    : {
                          ok: false,
                          needed: true,
                          out: whyFailed(err instanceof ScriptFailure ? err.stderr : err.message),
                      },
        );
    ctx.log(rewind.out);
    if (rewind.ok) {
        const how = rewind.needed ? "after pg_rewind" : "without a rewind";
        if (!hasContainer) return reportNoContainer(ctx, node, upstream, how);
        const since = now(ctx);
        await ctx.driver.start(node);
        const { why } = await streamOrSayWhy(ctx, node, 30, since);
        if (why === "streaming") {
            ctx.log(`${node.name} rejoined as a standby of ${upstream.name} ${how}`);
            return;
        }
    }
    await reclone(ctx, node, true, hasContainer);
}

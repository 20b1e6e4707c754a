import { streamsFrom, whyNotStreaming, type StreamingFailure } from "../../planning/streaming";
import type { PlannedNode } from "../../planning/topology";
import { upstreamOf, waitUntil, type ConvergeContext } from "./context";

/**
 * Waits for a standby to stream from its upstream, looking at both every 0.2 s: a node
 * that can never stream as it is (its WAL gone from the upstream, or past the upstream's
 * fork, or no data directory at all) is told apart at once, from what the two servers and
 * its container say (planning/streaming.ts), instead of after a fixed wait. Its log since
 * `since` comes back for the message of a failure, and decides nothing.
 */
export async function streamOrSayWhy(
    ctx: ConvergeContext,
    node: PlannedNode,
    seconds: number,
    since: string,
): Promise<{ why: StreamingFailure | "streaming"; lastLog: string }> {
    const upstream = upstreamOf(ctx, node);
    let why = "unknown" as StreamingFailure | "streaming";
    await waitUntil(ctx, `${node.name} streaming from ${upstream.name}`, seconds, async () => {
        const [o, up] = await Promise.all([ctx.driver.observe(node), ctx.driver.observe(upstream)]);
        // On the upstream's timeline too: a node past the fork streams the old timeline
        // for a moment, up to the switch, before it finds it cannot follow.
        if (streamsFrom(o, up)) {
            why = "streaming";
            return true;
        }
        why = whyNotStreaming(o, up, await ctx.driver.state(node));
        return why !== "unknown";
    });
    const lastLog = why === "streaming" ? "" : await ctx.driver.logsSince(node, since);
    return { why, lastLog };
}

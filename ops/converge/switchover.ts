import { SCRIPTS } from "../../contract/image";
import { lsnToBytes } from "../../planning/lsn";
import type { PlannedNode } from "../../planning/topology";
import { targetOf, waitUntil, type ConvergeContext } from "./context";
import { fence, promote } from "./fence";
import { pauseRouters, pointRouters, resumeRouters } from "./routers";

/**
 * A planned change of primary, losing nothing: the target must stream before anything is
 * touched; with pgtopo:endpoints the routers are paused first (clients wait, none sees an
 * error); the old primary is fenced by a clean stop, which sends its last WAL to its
 * standbys; the target is promoted only once it has received that last WAL (the routers
 * pointed at it meanwhile), and the routers are resumed as soon as it is. If it does not receive it within 60 s, the old
 * primary is started again as the primary, the routers resumed, and nothing else has
 * changed. Whatever fails after the pause, the routers are resumed. The old primary and
 * the other standbys rejoin afterwards, in tree order.
 */
export async function switchOver(ctx: ConvergeContext, from: PlannedNode): Promise<void> {
    const target = targetOf(ctx);
    // The target must be receiving WAL before the old primary stops, or it can never get
    // the last of it (a standby reconnects up to 5 s after its upstream restarted).
    const receiving = await waitUntil(
        ctx,
        `${target.name} streaming`,
        30,
        async () => (await ctx.driver.observe(target)).receiverStatus === "streaming",
    );
    if (!receiving) {
        throw new Error(
            `switchover refused: ${target.name} does not stream, so it could not receive ${from.name}'s last WAL; nothing was changed`,
        );
    }
    await pauseRouters(ctx);
    let resumed = false;
    const resume = async () => {
        if (resumed) return;
        resumed = true;
        await resumeRouters(ctx);
    };
    try {
        await fence(ctx, from);
        const finalLsn = await ctx.driver.oneShot(from, SCRIPTS.checkpointLsn);
        ctx.log(`${from.name} stopped at ${finalLsn}; waiting for ${target.name} to receive it`);
        const caughtUp = await waitUntil(ctx, `${target.name} receiving ${finalLsn}`, 60, async () => {
            const o = await ctx.driver.observe(target);
            return !!o.walLsn && lsnToBytes(o.walLsn) > lsnToBytes(finalLsn);
        });
        if (!caughtUp) {
            // Give the cluster its primary back rather than lose the tail of its WAL.
            await ctx.driver.start(from);
            throw new Error(
                `switchover aborted: ${target.name} did not receive ${from.name}'s last WAL (${finalLsn}); ${from.name} was restarted as primary and nothing else changed`,
            );
        }
        // The routers are paused, with no server connection: they are pointed at the target
        // while it is promoted, and resumed the moment the promotion returns (before the
        // new primary's checkpoint), so that clients wait for the promotion alone.
        const pointed = pointRouters(ctx, [from.name]);
        pointed.catch(() => undefined); // (awaited below; a rejection is not unhandled meanwhile)
        await promote(ctx, target, async () => {
            await pointed;
            await resume();
        });
        await pointed;
    } finally {
        await resume();
    }
}

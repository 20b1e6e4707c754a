import type { PlannedNode } from "../../planning/topology";
import type { ConvergeContext } from "./context";

/**
 * Fences a node: a clean stop (its last WAL sent to its standbys), so that it can never
 * take writes again until it is made a standby. Says whether it has a container at all
 * (a node removed by hand is fenced on its volume). A node on a host marked gone cannot be
 * reached: it is not fenced, and says so.
 */
export async function fence(ctx: ConvergeContext, node: PlannedNode): Promise<boolean> {
    if (node.gone) {
        ctx.log(
            `${node.name} is on a host marked gone: not fenced (it cannot be reached); it rejoins once the host is back`,
        );
        return false;
    }
    const state = await ctx.driver.container(node);
    if (state === "running") {
        ctx.log(`fencing ${node.name}: stopping it cleanly`);
        await ctx.driver.stop(node, 60);
    }
    return state !== "missing";
}

/**
 * Promotes a standby, then checkpoints it, so that pg_rewind (which reads its control file)
 * sees its new timeline. `promoted` runs between the two: the new primary takes writes as
 * soon as the promotion returns, and what waits for that (paused routers) need not wait
 * for the checkpoint too.
 */
export async function promote(
    ctx: ConvergeContext,
    node: PlannedNode,
    promoted: () => Promise<void> = async () => undefined,
): Promise<void> {
    ctx.log(`promoting ${node.name}`);
    const ok = await ctx.driver.sql(node, "SELECT pg_promote(wait => true, wait_seconds => 60)");
    if (ok !== "t") throw new Error(`${node.name} did not finish promotion within 60s`);
    await promoted();
    // Until its first checkpoint, a new primary's control file still names the old
    // timeline, and pg_rewind (which reads it) would rewind onto the wrong one.
    await ctx.driver.sql(node, "CHECKPOINT");
    ctx.log(`${node.name} is the primary`);
}

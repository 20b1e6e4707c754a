import type { Transition } from "../../planning/transition";
import { nodeNamed, targetOf, type ConvergeContext } from "./context";
import { fence, promote } from "./fence";
import { pointRouters } from "./routers";

/**
 * No node accepts writes: every node that may hold a primary's data is fenced (a stopped
 * one stays stopped; it rejoins afterwards, in tree order), then the target is promoted.
 * The lag guard (planning/transition.ts) refused this already if the target is too far
 * behind another standby. The routers are then pointed at it: connections to the lost
 * primary failed already; new ones reach the new primary at once.
 */
export async function failOver(
    ctx: ConvergeContext,
    transition: Extract<Transition, { kind: "failover" }>,
): Promise<void> {
    for (const name of transition.fence) await fence(ctx, nodeNamed(ctx, name));
    await promote(ctx, targetOf(ctx));
    await pointRouters(ctx, transition.fence);
}

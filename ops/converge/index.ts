import { planConvergence } from "../../planning/convergence";
import { describeRepairs, planRepairs, type Repair } from "../../planning/repair";
import type { PlannedNode } from "../../planning/topology";
import { describeTransition, planTransition, type Transition } from "../../planning/transition";
import { nodeNamed, targetOf, waitUntil, type ConvergeContext } from "./context";
import { failOver } from "./failover";
import { repair } from "./repairs";
import { repairRouters } from "./routers";
import { switchOver } from "./switchover";

export { realClock, type Clock, type ConvergeContext } from "./context";

/**
 * Makes the cluster what the config says, from whatever it finds: the configured node the
 * only primary (switchover or failover when it is another), then every other node, in the
 * order of the planned tree, a standby of its upstream through its slot. Each step first
 * looks at what is there, so running this again after an interruption (or after success)
 * continues from where things are instead of repeating work.
 */
export async function convergeCluster(ctx: ConvergeContext): Promise<{ transition: Transition; repairs: Repair[] }> {
    const { request, driver, log } = ctx;
    const target = targetOf(ctx);
    const observeAll = () => Promise.all(request.nodes.map((n) => driver.observe(n)));

    // 1. The configured primary runs: a stopped one (killed, stopped by hand) is started first.
    let observed = await observeAll();
    const first = planConvergence(request, observed);
    if (first.startPrimary) {
        log(`${target.name}: the primary's container is stopped: starting it`);
        await driver.start(target);
        await waitUntil(ctx, `${target.name} accepting connections`, 120, async () => (await driver.observe(target)).reachable); // prettier-ignore
        observed = await observeAll();
    }

    // 2. Who is primary: a switchover or a failover when it is another node.
    const transition = planTransition(request.target, observed, { maxLagOnFailover: request.maxLagOnFailover });
    log(describeTransition(transition));
    switch (transition.kind) {
        case "refused":
            throw new Error(transition.reason);
        case "none":
            break;
        case "switchover":
            await switchOver(ctx, nodeNamed(ctx, transition.from));
            break;
        case "failover":
            await failOver(ctx, transition);
            break;
    }

    // 3. Every other node, upstreams first, each observed just before it is repaired: by
    //    then its upstream already follows the primary, so no fixed wait and no re-clone
    //    where a rewind or a plain restart is enough, at any depth of cascade.
    const done: Repair[] = [];
    // While this run has changed nothing (the healthy case, every new cluster's), the first
    // look still stands: no node is asked again (a query per node, not three).
    const changedNothing = () =>
        !first.startPrimary && transition.kind === "none" && transition.fence.length === 0 && done.length === 0;
    const look = (node: PlannedNode) =>
        changedNothing() ? Promise.resolve(observed.find((o) => o.name === node.name)!) : driver.observe(node);
    const primaryNow = await look(target);
    for (const node of request.nodes) {
        if (node.name === target.name || !node.upstream || node.gone) continue;
        const [self, up] = await Promise.all([look(node), look(nodeNamed(ctx, node.upstream))]);
        const repairs = planRepairs(
            target.name,
            [node],
            [primaryNow, self, up],
            transition.fence.includes(node.name) ? [node.name] : [],
        ).filter((r) => r.action !== "drop-slot");
        for (const r of repairs) {
            log(describeRepairs([r])[0]);
            await repair(ctx, node, r);
            done.push(r);
        }
    }

    // 4. Slots nobody in the config consumes any more.
    if (!changedNothing()) observed = await observeAll();
    for (const r of planRepairs(target.name, request.nodes, observed).filter((r) => r.action === "drop-slot")) {
        log(describeRepairs([r])[0]);
        await repair(ctx, nodeNamed(ctx, r.node), r);
        done.push(r);
    }
    // 5. The routers (pgtopo:endpoints): running, resumed, pointed where the plan says.
    const routersRepaired = await repairRouters(ctx);
    if (done.length === 0 && routersRepaired === 0 && transition.kind === "none" && transition.fence.length === 0) {
        log("every node is as configured; nothing to repair");
    }
    return { transition, repairs: done };
}

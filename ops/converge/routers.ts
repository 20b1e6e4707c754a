import { describeRouterRepairs, planRouterRepairs, servingTargets, type RouterPlan } from "../../planning/routers";
import type { ConvergeContext } from "./context";

/** The routers pgtopo may act on: every one but those on a host marked gone. */
const live = (ctx: ConvergeContext) => ctx.request.routers.filter((r) => !r.gone);

/** The routers with an rw listener: the ones a change of primary concerns. */
const writers = (ctx: ConvergeContext) => live(ctx).filter((r) => r.listeners.rw !== undefined);

/**
 * Pauses the rw listener of every router, all at once, before a switchover touches the
 * primary: PgBouncer lets the transactions in flight finish, then holds every new one (its
 * clients wait; none sees an error). If they do not finish within pgtopo:endpoints.
 * pauseTimeout, nothing is changed: every router is resumed and the switchover abandoned.
 */
export async function pauseRouters(ctx: ConvergeContext): Promise<void> {
    const routers = writers(ctx);
    if (routers.length === 0) return;
    const seconds = ctx.request.pauseTimeout;
    ctx.log(`pausing ${names(routers)} (rw): transactions in flight finish, new ones wait, for up to ${seconds}s`);
    const results = await Promise.all(
        routers.map((router) =>
            ctx.routers.pause(router, ["rw"], seconds).catch((err: Error) => {
                ctx.log(`${router.name} could not be paused: ${err.message.split("\n")[0]}`);
                return "failed" as const;
            }),
        ),
    );
    const late = routers.filter((_, i) => results[i] !== "paused");
    if (late.length === 0) return;
    await resumeRouters(ctx);
    throw new Error(
        results.includes("timed out")
            ? `switchover abandoned: the transactions in flight behind ${names(late)} did not finish within ${seconds}s ` +
              `(pgtopo:endpoints.pauseTimeout); the routers were resumed and nothing else changed`
            : `switchover abandoned: ${names(late)} could not be paused; the routers were resumed and nothing else changed`,
    );
}

/** Resumes every router (a resume of one that is not paused changes nothing). Never throws: it says what failed. */
export async function resumeRouters(ctx: ConvergeContext): Promise<void> {
    const routers = live(ctx);
    await Promise.all(
        routers.map((router) =>
            ctx.routers.resume(router).catch((err: Error) => {
                ctx.log(`${router.name} could not be resumed: ${err.message.split("\n")[0]}; the next 'up' resumes it`);
            }),
        ),
    );
    if (routers.length > 0) ctx.log(`resumed ${names(routers)}`);
}

/**
 * Points every router at the new primary, right after its promotion: rw at it, ro at the
 * planned standbys but those still to rejoin (`rejoining`, fenced a moment ago), so that
 * no read goes to a node that is down; the last step puts them back once they stream.
 */
export async function pointRouters(ctx: ConvergeContext, rejoining: readonly string[]): Promise<void> {
    const routers = live(ctx);
    if (routers.length === 0) return;
    const targets = servingTargets(routers[0].targets, new Set(rejoining));
    await Promise.all(routers.map((router) => ctx.routers.point(router, targets)));
    ctx.log(`${names(routers)} now point${routers.length === 1 ? "s" : ""} rw at ${targets.rw}`);
}

/**
 * Every router as the plan says, once every node is: started if stopped, resumed if
 * paused (by hand, or by an `up` killed mid-switchover), pointed where the plan says, ro
 * leaving out the standbys that are down now (servingTargets).
 */
export async function repairRouters(ctx: ConvergeContext): Promise<number> {
    const routers = live(ctx);
    if (routers.length === 0) return 0;
    const standbys = ctx.request.nodes.filter((n) => !n.gone && n.name !== ctx.request.target);
    const [observed, seenStandbys] = await Promise.all([
        Promise.all(routers.map((router) => ctx.routers.observe(router))),
        Promise.all(standbys.map((node) => ctx.driver.observe(node))),
    ]);
    const away = new Set(seenStandbys.filter((o) => o.container !== "running" || !o.reachable).map((o) => o.name));
    const repairs = planRouterRepairs(routers, observed, away);
    for (const r of repairs) {
        ctx.log(describeRouterRepairs([r])[0]);
        const router = routers.find((x) => x.name === r.router)!;
        if (r.action === "start") await ctx.routers.start(router);
        if (r.action === "resume") await ctx.routers.resume(router);
        if (r.action === "point") await ctx.routers.point(router, servingTargets(router.targets, away));
    }
    return repairs.length;
}

const names = (routers: readonly RouterPlan[]) => routers.map((r) => r.name).join(", ");

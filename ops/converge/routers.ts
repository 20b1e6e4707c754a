import { describeRouterRepairs, planRouterRepairs, type RouterPlan, type RouterTargets } from "../../planning/routers";
import { splitEndpoint } from "../../planning/endpoint";
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
    const away = new Set(rejoining.map((name) => hostPortOf(ctx, name)));
    const planned = routers[0].targets;
    const ro = planned.ro.filter((t) => !away.has(t));
    const targets: RouterTargets = { rw: planned.rw, ro: ro.length > 0 ? ro : [planned.rw] };
    await Promise.all(routers.map((router) => ctx.routers.point(router, targets)));
    ctx.log(`${names(routers)} now point${routers.length === 1 ? "s" : ""} rw at ${targets.rw}`);
}

/** A node's endpoint as the routers' targets name it (host:port). */
function hostPortOf(ctx: ConvergeContext, name: string): string {
    const { host, port } = splitEndpoint(ctx.request.nodes.find((n) => n.name === name)!.endpoint);
    return `${host}:${port}`;
}

/**
 * Every router as the plan says, once every node is: started if stopped, resumed if
 * paused (by hand, or by an `up` killed mid-switchover), pointed where the plan says.
 */
export async function repairRouters(ctx: ConvergeContext): Promise<number> {
    const routers = live(ctx);
    const observed = await Promise.all(routers.map((router) => ctx.routers.observe(router)));
    const repairs = planRouterRepairs(routers, observed);
    for (const r of repairs) {
        ctx.log(describeRouterRepairs([r])[0]);
        const router = routers.find((x) => x.name === r.router)!;
        if (r.action === "start") await ctx.routers.start(router);
        if (r.action === "resume") await ctx.routers.resume(router);
        if (r.action === "point") await ctx.routers.point(router, router.targets);
    }
    return repairs.length;
}

const names = (routers: readonly RouterPlan[]) => routers.map((r) => r.name).join(", ");

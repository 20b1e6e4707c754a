import { EXIT, ROUTER_SCRIPTS } from "../contract/image";
import {
    parseRouterState,
    type Listener,
    type RouterObservation,
    type RouterPlan,
    type RouterTargets,
} from "../planning/routers";
import { dockerText } from "./docker";

/**
 * Everything the program does to a router (images/pgbouncer), beside NodeDriver for the
 * nodes: the converge step pauses, points and resumes routers around a change of primary
 * against this interface, and its unit tests against a fake.
 */
export interface RouterDriver {
    /** What the router says of itself; never throws (a router that does not answer is an observation). */
    observe(router: RouterPlan): Promise<RouterObservation>;
    /**
     * PAUSE on these listeners, waiting at most `seconds` for the transactions in flight
     * to finish; "timed out": they did not, and the router resumed them.
     */
    pause(router: RouterPlan, listeners: readonly Listener[], seconds: number): Promise<"paused" | "timed out">;
    resume(router: RouterPlan): Promise<void>;
    /** Points its listeners at these servers (a RELOAD: server connections follow as they are released). */
    point(router: RouterPlan, targets: RouterTargets): Promise<void>;
    start(router: RouterPlan): Promise<void>;
}

/** The routers of a stack on Docker, each on its own engine. */
export function dockerRouterDriver(): RouterDriver {
    const admin = (router: RouterPlan, ...args: string[]) =>
        dockerText(router.dockerHost, ["exec", router.container, ROUTER_SCRIPTS.admin, ...args], { timeout: 90_000 });
    return {
        observe: async (router) => {
            const base = { name: router.name, listeners: {} };
            if (router.gone) return { ...base, container: "running", error: "not asked: its host is marked gone" };
            const state =
                await dockerText(router.dockerHost, ["container", "inspect", "-f", "{{.State.Running}}", router.container], { timeout: 15_000 }) // prettier-ignore
                    .then((running) => (running === "true" ? "running" : "stopped"))
                    .catch((err: { stderr?: string }) =>
                        /no such/i.test(err.stderr ?? "") ? "missing" : "unreachable",
                    );
            if (state === "unreachable") return { ...base, container: "running", error: "its engine does not answer" };
            if (state !== "running") return { ...base, container: state };
            const listeners = await admin(router, "state")
                .then(parseRouterState)
                .catch(() => ({}));
            return { ...base, container: "running", listeners };
        },
        pause: (router, listeners, seconds) =>
            admin(router, "pause", listeners.length === 2 ? "all" : listeners[0], String(seconds)).then(
                () => "paused" as const,
                (err: { code?: number }) => {
                    if (err.code === EXIT.pauseTimedOut) return "timed out" as const;
                    throw err;
                },
            ),
        resume: async (router) => void (await admin(router, "resume", "all")),
        point: async (router, targets) => void (await admin(router, "point", targets.rw, targets.ro.join(","))),
        start: async (router) => void (await dockerText(router.dockerHost, ["start", router.container])),
    };
}

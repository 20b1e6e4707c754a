import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { GENERATION_LABEL, NODE_LABEL, STACK_LABEL, stackNames } from "../components/naming";
import { containerGeneration } from "../planning/generation";
import { planConvergence, type ConvergencePlan, type ConvergeRequest } from "./converge";
import { observeNode, tcpUrl } from "./observe";

const run = promisify(execFile);

/** What the program finds running for a stack, while it declares resources. */
export interface StackSurvey {
    /** Per node, the generation label its container carries (planning/generation.ts): two docker listings. */
    readonly generations: Promise<Readonly<Record<string, string | undefined>>>;
    /**
     * What converging the nodes that exist takes (a container, or a volume kept without
     * one); `drifted` makes the converge step run. One query per node besides.
     */
    convergence(superuserPassword: () => Promise<string | undefined>): Promise<ConvergencePlan>;
}

/**
 * Looks at a stack's containers, volumes and servers. Read-only. `pulumi up` itself only
 * knows what its state says; this is how the program learns what broke since (a container
 * killed or removed, a slot lost, a standby promoted by hand), so that a plain `up`
 * repairs it. The listings start at once; the queries once the password is at hand.
 */
export function surveyStack(stack: string, request: ConvergeRequest): StackSurvey {
    const names = stackNames(stack);
    const docker = async (...args: string[]) => (await run("docker", args)).stdout.trim().split("\n").filter(Boolean);
    const listed = Promise.all([
        docker("ps", "-a", "--filter", `label=${STACK_LABEL}=${stack}`, "--filter", `label=${NODE_LABEL}`,
            "--format", `{{.Label "${NODE_LABEL}"}}|{{.Label "${GENERATION_LABEL}"}}`), // prettier-ignore
        docker("volume", "ls", "-q", "--filter", `label=${STACK_LABEL}=${stack}`),
    ]).then(([containers, volumes]) => ({
        labels: new Map(containers.map((line) => line.split("|") as [string, string])),
        volumes: new Set(volumes),
    }));
    const now = new Date();
    const generations = listed.then(({ labels, volumes }) =>
        Object.fromEntries(
            request.nodes.map((node) => [
                node.name,
                containerGeneration(
                    {
                        container: labels.has(node.name),
                        label: labels.get(node.name) || undefined,
                        volume: volumes.has(names.volume(node.name)),
                    },
                    now,
                ),
            ]),
        ),
    );
    const convergence = async (superuserPassword: () => Promise<string | undefined>) => {
        const { labels, volumes } = await listed;
        // A node with neither container nor volume is one this `up` creates: not observed,
        // so not drifted. A stack with no container has nothing to ask, and no password
        // to wait for yet.
        const existing = request.nodes.filter((n) => labels.has(n.name) || volumes.has(names.volume(n.name)));
        const password = labels.size > 0 ? await superuserPassword() : undefined;
        // Over each node's published port when the password is at hand (a few
        // milliseconds), in its container otherwise (about 0.1 s, and CPU the `up` needs).
        const observed = await Promise.all(
            existing.map((node) =>
                observeNode({
                    name: node.name,
                    container: node.container,
                    url: tcpUrl(password, node.port, request.caFile),
                }),
            ),
        );
        return planConvergence(request, observed);
    };
    return { generations, convergence };
}

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { GENERATION_LABEL, NODE_LABEL, STACK_LABEL, stackNames } from "../components/naming";
import { containerGeneration } from "../planning/generation";
import { planConvergence, type ConvergencePlan, type ConvergeRequest } from "./converge";
import { observeNode, type NodeObservation } from "./observe";

const run = promisify(execFile);

/** What the program found running for a stack, before it declares a single resource. */
export interface StackSurvey {
    /** Per node, the generation label its container carries (planning/generation.ts). */
    readonly generations: Readonly<Record<string, string | undefined>>;
    /** The nodes that exist (a container, or a volume kept without one). */
    readonly observed: readonly NodeObservation[];
    /** What converging them takes; `drifted` makes the converge step run. */
    readonly convergence: ConvergencePlan;
}

/**
 * Looks at a stack's containers, volumes and servers: two docker listings and one query
 * per running node, in parallel. Read-only. `pulumi up` itself only knows what its state
 * says; this is how the program learns what broke since (a container killed or removed,
 * a slot lost, a standby promoted by hand), so that a plain `up` repairs it.
 */
export async function surveyStack(stack: string, request: ConvergeRequest): Promise<StackSurvey> {
    const names = stackNames(stack);
    const docker = async (...args: string[]) => (await run("docker", args)).stdout.trim().split("\n").filter(Boolean);
    // All at once: the listings, and a query to every node that may exist (one that does
    // not answers "missing" at once), so that the survey takes one docker exec's time.
    const [containers, volumes, queried] = await Promise.all([
        docker("ps", "-a", "--filter", `label=${STACK_LABEL}=${stack}`, "--filter", `label=${NODE_LABEL}`,
            "--format", `{{.Label "${NODE_LABEL}"}}|{{.Label "${GENERATION_LABEL}"}}`), // prettier-ignore
        docker("volume", "ls", "-q", "--filter", `label=${STACK_LABEL}=${stack}`),
        Promise.all(request.nodes.map((node) => observeNode({ name: node.name, container: node.container }))),
    ]);
    const labels = new Map(containers.map((line) => line.split("|") as [string, string]));
    const now = new Date();
    const generations: Record<string, string | undefined> = {};
    const existing: NodeObservation[] = [];
    request.nodes.forEach((node, i) => {
        const hasContainer = labels.has(node.name);
        const hasVolume = volumes.includes(names.volume(node.name));
        generations[node.name] = containerGeneration(
            { container: hasContainer, label: labels.get(node.name) || undefined, volume: hasVolume },
            now,
        );
        // A node with neither is one this `up` creates: not observed, so not drifted.
        if (hasContainer || hasVolume) existing.push(queried[i]);
    });
    return { generations, observed: existing, convergence: planConvergence(request, existing) };
}

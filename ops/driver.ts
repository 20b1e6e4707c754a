import { ENV, PATHS } from "../contract/image";
import type { ConvergeRequest } from "../planning/convergence";
import type { NodeObservation } from "../planning/observation";
import { nodeState, type NodeState } from "../planning/streaming";
import type { PlannedNode } from "../planning/topology";
import { dockerOn, dockerText } from "./docker";
import { endpointsOf, observeNode } from "./observe";

/** The state of a node's container. */
export type ContainerState = "running" | "stopped" | "missing";

/**
 * Everything the program does to a node, in one interface: the converge step's switchover,
 * failover, rejoin and repairs are written against it (ops/converge/), so that unit tests
 * drive them with a fake node (tests/support/fake-driver.ts) and assert every action they
 * take, and the Docker implementation below is the one place that makes a docker argv.
 */
export interface NodeDriver {
    /** What the node says of itself now; a failure is an observation too, never an exception. */
    observe(node: PlannedNode): Promise<NodeObservation>;
    /** Its container: running, stopped, or missing. */
    container(node: PlannedNode): Promise<ContainerState>;
    /** Whether its volume exists. */
    hasVolume(node: PlannedNode): Promise<boolean>;
    /**
     * What its running container says of itself: whether it holds a data directory, and why
     * it cannot stream, when PostgreSQL said so (pgtopo-log-watch). Empty when it could not
     * be asked.
     */
    state(node: PlannedNode): Promise<NodeState>;
    /** SQL as postgres over the node's local socket (peer authentication); psql's unaligned output. */
    sql(node: PlannedNode, text: string): Promise<string>;
    /** One of the image's scripts in the node's running container; its output. */
    run(node: PlannedNode, script: string, args: readonly string[]): Promise<string>;
    /**
     * One of the image's scripts in a one-shot container on the node's volume, on the
     * stack's network; `env` names variables whose values come from this process's own
     * environment (secrets never on a command line), or NAME=value. Its output; a
     * non-zero exit rejects with a ScriptFailure.
     */
    oneShot(node: PlannedNode, script: string, args?: readonly string[], env?: readonly string[]): Promise<string>;
    start(node: PlannedNode): Promise<void>;
    /** A clean stop, Docker's kill only after `graceSeconds`. */
    stop(node: PlannedNode, graceSeconds: number): Promise<void>;
    /** Its log since a moment (an ISO time, or "20s"): for the messages that explain a failure, never for a decision. */
    logsSince(node: PlannedNode, since: string): Promise<string>;
}

/** A script that exited with a code other than 0: its code and what it printed. */
export class ScriptFailure extends Error {
    constructor(
        readonly code: number,
        readonly stdout: string,
        readonly stderr: string,
        message: string,
    ) {
        super(message);
    }
}

/**
 * The nodes of a converge request on Docker: each through its own engine (DOCKER_HOST),
 * asked over its published port when the superuser's password is given (a few
 * milliseconds), in its container otherwise and across hosts.
 */
export function dockerDriver(request: ConvergeRequest, superuserPassword?: string): NodeDriver {
    const endpoints = new Map(endpointsOf(request, superuserPassword).map((e) => [e.name, e]));
    const docker = async (node: PlannedNode, ...args: string[]) => {
        try {
            return await dockerText(node.dockerHost, args);
        } catch (err) {
            const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
            throw new ScriptFailure(typeof e.code === "number" ? e.code : 1, e.stdout ?? "", e.stderr ?? "", e.message);
        }
    };
    return {
        observe: (node) => observeNode(endpoints.get(node.name)!),
        container: (node) =>
            docker(node, "container", "inspect", "-f", "{{.State.Running}}", node.container).then(
                (running) => (running === "true" ? "running" : "stopped"),
                () => "missing",
            ),
        hasVolume: (node) =>
            docker(node, "volume", "inspect", node.volume).then(
                () => true,
                () => false,
            ),
        state: (node) =>
            docker(node, "exec", node.container, "sh", "-c", `if [ -s "${PATHS.pgdata}/PG_VERSION" ]; then echo data; else echo none; fi; cat ${PATHS.streamingState} 2>/dev/null || true`) // prettier-ignore
                .then((answer) => nodeState(answer))
                .catch(() => ({})),
        sql: (node, text) =>
            docker(node, "exec", "-u", "postgres", node.container, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", text), // prettier-ignore
        run: (node, script, args) => docker(node, "exec", node.container, script, ...args),
        // Named after the node, so that one left behind by a killed run (created but never
        // started, it would hold the volume) is removed by the next.
        oneShot: async (node, script, args = [], env = []) => {
            const name = `${node.container}-oneshot`;
            await docker(node, "rm", "-f", name).catch(() => undefined);
            return docker(
                node,
                "run", "--rm", "--name", name, "--label", request.stackLabel, "--network", request.network,
                "-v", `${node.volume}:${PATHS.volume}`,
                "-e", `${ENV.node}=${node.name}`, "-e", ENV.superuserPassword,
                ...env.flatMap((e) => ["-e", e]),
                "--entrypoint", script, request.image, ...args,
            ); // prettier-ignore
        },
        start: async (node) => {
            await docker(node, "start", node.container);
            // The word of why the node could not stream (the streaming state file) lives in
            // the container's filesystem, which outlives a stop: a word from before this start
            // was read as this start's verdict (a re-cloned standby "cannot stream: its WAL
            // is gone") until pgtopo-run empties the file, a moment after the start, and
            // later on a busy machine. Emptied here before anything looks; a word the new
            // server's log gives in between comes again at its next attempt to stream.
            await docker(node, "exec", node.container, "sh", "-c", `: > ${PATHS.streamingState}`).catch(
                () => undefined,
            );
        },
        stop: async (node, graceSeconds) =>
            void (await docker(node, "stop", "-t", String(graceSeconds), node.container)),
        logsSince: (node, since) =>
            dockerOn(node.dockerHost, ["logs", "--since", since, node.container]).then(
                ({ stdout, stderr }) => `${stdout}\n${stderr}`,
                () => "",
            ),
    };
}

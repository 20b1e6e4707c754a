import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Client } from "pg";
import { VOLUME_MOUNT_PATH } from "../components/commands";
import { lsnToBytes } from "../planning/lsn";
import { describeTransition, planTransition, type Transition } from "../planning/transition";
import { observeCluster, type NodeEndpoint } from "./observe";

const run = promisify(execFile);

/** One node as the promotion step needs it: where it runs and whom it should follow. */
export interface TransitionNode {
    readonly name: string;
    readonly port: number;
    readonly container: string;
    readonly volume: string;
    /** Planned upstream and slot once the transition is done; absent for the target. */
    readonly upstream?: string;
    readonly slot?: string;
}

/** What the Command hands over (as JSON in PGTOPO_TRANSITION); the password comes separately. */
export interface TransitionRequest {
    /** The stack's label (pgtopo.stack=NAME), put on every one-shot container. */
    readonly stackLabel: string;
    readonly target: string;
    readonly maxLagOnFailover: number;
    readonly image: string;
    readonly network: string;
    readonly nodes: readonly TransitionNode[];
}

type Log = (line: string) => void;

/** Where to reach each node of a request, as the superuser, on its published port. */
export const endpointsOf = (request: TransitionRequest, superuserPassword: string): NodeEndpoint[] =>
    request.nodes.map((n) => ({
        name: n.name,
        container: n.container,
        url: `postgresql://postgres:${encodeURIComponent(superuserPassword)}@127.0.0.1:${n.port}/postgres`,
    }));

/**
 * What convergePrimary would do now, in plain words, without doing it: for `pulumi
 * preview`. Undefined for a stack whose nodes do not exist yet (nothing to move).
 */
export async function previewTransition(
    request: TransitionRequest,
    superuserPassword: string,
): Promise<string | undefined> {
    const observed = await observeCluster(endpointsOf(request, superuserPassword));
    if (observed.every((o) => o.container === "missing")) return undefined;
    return describeTransition(planTransition(request.target, observed, { maxLagOnFailover: request.maxLagOnFailover }));
}

const docker = async (...args: string[]) => (await run("docker", args, { maxBuffer: 8 << 20 })).stdout.trim();
const volumeExists = (name: string) =>
    docker("volume", "inspect", name).then(
        () => true,
        () => false,
    );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Why a one-shot failed: the last few error lines of its stderr, not a whole server log. */
const whyFailed = (text: string, count = 4) => {
    const lines = text.trim().split("\n");
    const errors = lines.filter((l) => /error|detail|PANIC|FATAL/.test(l));
    return (errors.length > 0 ? errors : lines).slice(-count).join("\n");
};

/**
 * Makes the configured node the only primary and every fenced node a standby again.
 * Each step first looks at what is there, so running this again after an interruption
 * (or after success) continues from where things are instead of repeating work.
 */
export async function convergePrimary(
    request: TransitionRequest,
    superuserPassword: string,
    log: Log,
): Promise<Transition> {
    const byName = new Map(request.nodes.map((n) => [n.name, n]));
    const endpoints = endpointsOf(request, superuserPassword);
    const url = (n: TransitionNode) => endpoints.find((e) => e.name === n.name)!.url;

    const sql = async <T = Record<string, unknown>>(node: TransitionNode, text: string): Promise<T[]> => {
        const client = new Client({ connectionString: url(node), connectionTimeoutMillis: 5000 });
        await client.connect();
        try {
            return (await client.query(text)).rows as T[];
        } finally {
            await client.end();
        }
    };

    /**
     * A one-shot container on a node's volume, on the cluster network; secrets via the
     * environment (names only here: docker copies the values from this process). Named
     * after the node, so that one left behind by a killed run (created but never
     * started, it would hold the volume) is removed by the next.
     */
    const oneShot = async (node: TransitionNode, script: string, args: string[] = [], env: string[] = []) => {
        const name = `${node.container}-oneshot`;
        await docker("rm", "-f", name).catch(() => undefined);
        return docker(
            "run", "--rm", "--name", name, "--label", request.stackLabel, "--network", request.network,
            "-v", `${node.volume}:${VOLUME_MOUNT_PATH}`,
            "-e", `PGTOPO_NODE=${node.name}`, "-e", "PGTOPO_SUPERUSER_PASSWORD",
            ...env.flatMap((e) => ["-e", e]),
            "--entrypoint", script, request.image, ...args,
        ); // prettier-ignore
    };

    const waitUntil = async (what: string, seconds: number, check: () => Promise<boolean>): Promise<boolean> => {
        for (const end = Date.now() + seconds * 1000; Date.now() < end; await sleep(500)) {
            if (await check().catch(() => false)) return true;
        }
        log(`${what}: not within ${seconds}s`);
        return false;
    };

    const streamingFrom = (node: TransitionNode, upstream: string) =>
        waitUntil(`${node.name} streaming from ${upstream}`, 30, async () => {
            const [row] = await sql<{ s: string }>(
                node,
                "SELECT status || '@' || sender_host AS s FROM pg_stat_wal_receiver",
            );
            return row?.s === `streaming@${upstream}`;
        });

    const stop = async (node: TransitionNode) => {
        const state = await docker("container", "inspect", "-f", "{{.State.Running}}", node.container).catch(
            () => "missing",
        );
        if (state === "true") {
            log(`fencing ${node.name}: stopping it cleanly`);
            await docker("stop", "-t", "60", node.container);
        }
        return state !== "missing";
    };

    /**
     * Stopped node -> standby of its planned upstream. pg_rewind decides whether its WAL
     * went past the fork and rewinds it if so; when it cannot (WAL gone, unrelated
     * history) or the node still does not stream, the data directory is set aside in its
     * volume (never deleted) and the node is cloned afresh. Every path is reported.
     * All of it works on the volume, so a node whose container was removed is fenced all
     * the same: whenever its container is recreated, it starts as a standby.
     */
    const rejoin = async (node: TransitionNode) => {
        if (!node.upstream || !node.slot) throw new Error(`${node.name} has no planned upstream to rejoin`);
        const upstream = byName.get(node.upstream)!;
        const hasContainer = await stop(node);
        // `docker run -v` would create a missing volume: look first.
        if (!(await volumeExists(node.volume))) {
            log(`${node.name} has no volume ${node.volume}: no data that could come back as a primary`);
            return;
        }
        await docker("exec", upstream.container, "pgtopo-slot", "create", node.slot);
        const rewind = await oneShot(node, "pgtopo-rewind", [request.target, upstream.name, node.slot]).then(
            (out) => ({ ok: true, out }),
            (err: { stderr?: string; message: string }) => ({ ok: false, out: whyFailed(err.stderr ?? err.message) }),
        );
        log(rewind.out);
        if (rewind.ok) {
            const how = rewind.out.includes("no rewind needed") ? "without a rewind" : "after pg_rewind";
            if (!hasContainer) return reportNoContainer(node, upstream, how);
            await docker("start", node.container);
            if (await streamingFrom(node, upstream.name)) {
                log(`${node.name} rejoined as a standby of ${upstream.name} ${how}`);
                return;
            }
            await docker("stop", "-t", "60", node.container);
        }
        await reclone(node, upstream, hasContainer);
    };

    /** Only says what happened: nothing can be started or waited for without a container. */
    const reportNoContainer = (node: TransitionNode, upstream: TransitionNode, how: string) =>
        log(
            `${node.name} has no container; its data is now a standby's of ${upstream.name} (${how}), ` +
                `so it streams from there once 'pulumi up --refresh' recreates the container`,
        );

    const reclone = async (node: TransitionNode, upstream: TransitionNode, hasContainer: boolean) => {
        log(`${node.name} cannot rejoin ${upstream.name} with its own data: cloning it afresh`);
        const kept = await oneShot(node, "pgtopo-set-aside");
        if (kept) log(`${node.name}'s diverged data is kept at ${kept} in volume ${node.volume}; remove it when done`);
        const cloneEnv = [
            `PGTOPO_UPSTREAM=${upstream.name}`,
            `PGTOPO_SLOT=${node.slot}`,
            "PGTOPO_REPLICATION_PASSWORD",
        ];
        log(await oneShot(node, "pgtopo-clone", [], cloneEnv));
        if (!hasContainer) return reportNoContainer(node, upstream, "re-cloned");
        await docker("start", node.container);
        if (!(await streamingFrom(node, upstream.name))) {
            throw new Error(
                `${node.name} was re-cloned from ${upstream.name} but does not stream from it; see its log`,
            );
        }
        log(`${node.name} rejoined as a standby of ${upstream.name}, re-cloned`);
    };

    const promote = async (target: TransitionNode) => {
        log(`promoting ${target.name}`);
        const [row] = await sql<{ ok: boolean }>(target, "SELECT pg_promote(wait => true, wait_seconds => 60) AS ok");
        if (!row?.ok) throw new Error(`${target.name} did not finish promotion within 60s`);
        // Until its first checkpoint, a new primary's control file still names the old
        // timeline, and pg_rewind (which reads it) would rewind onto the wrong one.
        await sql(target, "CHECKPOINT");
        log(`${target.name} is the primary`);
    };

    const observed = await observeCluster(endpoints);
    const transition = planTransition(request.target, observed, { maxLagOnFailover: request.maxLagOnFailover });
    log(describeTransition(transition));
    const target = byName.get(request.target)!;

    switch (transition.kind) {
        case "refused":
            throw new Error(transition.reason);
        case "none":
            break;
        case "switchover": {
            const from = byName.get(transition.from)!;
            await stop(from);
            const finalLsn = await oneShot(from, "pgtopo-checkpoint-lsn");
            log(`${from.name} stopped at ${finalLsn}; waiting for ${target.name} to receive it`);
            const caughtUp = await waitUntil(`${target.name} receiving ${finalLsn}`, 60, async () => {
                const [row] = await sql<{ lsn: string }>(target, "SELECT pg_last_wal_receive_lsn()::text AS lsn");
                return !!row?.lsn && lsnToBytes(row.lsn) > lsnToBytes(finalLsn);
            });
            if (!caughtUp) {
                // Give the cluster its primary back rather than lose the tail of its WAL.
                await docker("start", from.container);
                throw new Error(
                    `switchover aborted: ${target.name} did not receive ${from.name}'s last WAL (${finalLsn}); ${from.name} was restarted as primary and nothing else changed`,
                );
            }
            await promote(target);
            break;
        }
        case "failover":
            for (const name of transition.fence) await stop(byName.get(name)!);
            await promote(target);
            break;
    }
    for (const name of transition.fence) await rejoin(byName.get(name)!);
    return transition;
}

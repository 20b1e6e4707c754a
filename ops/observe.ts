import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Client } from "pg";
import { VOLUME_MOUNT_PATH } from "../components/commands";

const run = promisify(execFile);

/** What a node's container and server say about themselves right now. */
export interface NodeObservation {
    readonly name: string;
    readonly container: "running" | "stopped" | "missing";
    /** Whether PostgreSQL answered a query on its published port. */
    readonly reachable: boolean;
    readonly error?: string;
    readonly inRecovery?: boolean;
    readonly timeline?: number;
    /** Primary: current WAL insert position. Standby: last WAL received. */
    readonly walLsn?: string;
    /** Standby: last WAL replayed. */
    readonly replayLsn?: string;
    /** Standby: the host its WAL receiver streams from, and the receiver's status. */
    readonly upstreamHost?: string;
    readonly receiverStatus?: string;
    /** Replication slots on this node. */
    readonly slots: readonly { readonly name: string; readonly active: boolean }[];
    /** Data directories set aside in this node's volume when it had to be re-cloned. */
    readonly keptData?: readonly string[];
    /** Standbys streaming from this node, as its walsenders report them. */
    readonly replicas: readonly {
        readonly name: string;
        readonly state: string;
        readonly replayLagSeconds: number | null;
        readonly syncState: string;
    }[];
}

export interface NodeEndpoint {
    readonly name: string;
    readonly container: string;
    /** libpq URI on 127.0.0.1 (the stack's connectionStrings output). */
    readonly url: string;
}

async function containerState(container: string): Promise<NodeObservation["container"]> {
    try {
        const { stdout } = await run("docker", ["container", "inspect", "-f", "{{.State.Running}}", container]);
        return stdout.trim() === "true" ? "running" : "stopped";
    } catch {
        return "missing";
    }
}

/**
 * One round of questions to one node. Nothing here changes the node. Every failure is
 * an observation too (unreachable, with the error), never an exception.
 */
export async function observeNode(endpoint: NodeEndpoint): Promise<NodeObservation> {
    const container = await containerState(endpoint.container);
    const base = { name: endpoint.name, container, slots: [], replicas: [] };
    if (container !== "running") return { ...base, reachable: false, error: `container ${container}` };
    const client = new Client({ connectionString: endpoint.url, connectionTimeoutMillis: 3000, query_timeout: 5000 });
    try {
        await client.connect();
        const [state] = (
            await client.query(`
                SELECT pg_is_in_recovery() AS in_recovery,
                       CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()::text
                            ELSE pg_current_wal_lsn()::text END AS wal_lsn,
                       pg_last_wal_replay_lsn()::text AS replay_lsn,
                       -- A new primary's checkpoint still names the old timeline until its first
                       -- checkpoint; the WAL it writes now is named after the current one.
                       CASE WHEN pg_is_in_recovery()
                            THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver),
                                          (SELECT timeline_id FROM pg_control_checkpoint()))
                            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
                       END AS timeline,
                       (SELECT sender_host FROM pg_stat_wal_receiver) AS upstream_host,
                       (SELECT status FROM pg_stat_wal_receiver) AS receiver_status`)
        ).rows;
        const slots = (await client.query("SELECT slot_name AS name, active FROM pg_replication_slots ORDER BY 1"))
            .rows;
        // Superusers may list directories outside the data directory; the volume is its parent.
        const keptData = (
            await client.query<{ name: string }>(
                "SELECT name FROM pg_ls_dir($1) AS name WHERE name LIKE 'pgdata.diverged-%' ORDER BY 1",
                [VOLUME_MOUNT_PATH],
            )
        ).rows.map((r) => r.name);
        const replicas = (
            await client.query(`
                SELECT application_name AS name, state, sync_state AS "syncState",
                       EXTRACT(epoch FROM replay_lag)::float8 AS "replayLagSeconds"
                FROM pg_stat_replication ORDER BY 1`)
        ).rows;
        return {
            ...base,
            reachable: true,
            inRecovery: state.in_recovery,
            timeline: Number(state.timeline),
            walLsn: state.wal_lsn ?? undefined,
            replayLsn: state.replay_lsn ?? undefined,
            upstreamHost: state.upstream_host ?? undefined,
            receiverStatus: state.receiver_status ?? undefined,
            slots,
            keptData,
            replicas,
        };
    } catch (err) {
        return { ...base, reachable: false, error: (err as Error).message };
    } finally {
        await client.end().catch(() => undefined);
    }
}

export function observeCluster(endpoints: readonly NodeEndpoint[]): Promise<NodeObservation[]> {
    return Promise.all(endpoints.map(observeNode));
}

import { existsSync } from "node:fs";
import type * as Pg from "pg";
import { CURRENT_TIMELINE_SQL, DIVERGED_PREFIX, PATHS } from "../contract/image";
import type { ConvergeRequest } from "../planning/convergence";
import { parseTimelineHistory, type NodeObservation, type SlotObservation } from "../planning/observation";
import { splitEndpoint, type PlannedNode } from "../planning/topology";
import { dockerOn } from "./docker";

export type { NodeObservation, SlotObservation } from "../planning/observation";

/** Where a node runs: its name in the config and its container. */
export interface NodeEndpoint {
    readonly name: string;
    readonly container: string;
    /** Its engine's DOCKER_HOST (pgtopo:hosts); undefined: the local engine. */
    readonly dockerHost?: string;
    /**
     * Every node's endpoint ("pg-1:5432" on one machine, "10.0.0.11:5433" across hosts) to
     * its name: what a standby's WAL receiver reports is turned back into a node name.
     */
    readonly peers?: ReadonlyMap<string, string>;
    /** Its host is marked gone: not asked at all, reported unreachable. */
    readonly gone?: { readonly host: string };
    /**
     * A superuser's libpq URI on the published port, when the caller has the password: a
     * query over it takes a few milliseconds. Without it, the query runs in the container
     * as postgres over the local socket (peer authentication, no password: about 0.1 s).
     */
    readonly url?: string;
}

/**
 * One query, one JSON row: everything the status, the drift check and the converge step
 * need to know about a node. A new primary's checkpoint still names the old timeline until
 * its first checkpoint; the WAL file it writes now is named after the current one.
 */
const OBSERVE_SQL = `
WITH t AS (
  -- A standby's: the one it receives, or without a receiver the latest its control file
  -- knows it replayed (its last restartpoint's, or its minimum recovery point's).
  SELECT CASE WHEN pg_is_in_recovery()
              THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver),
                            GREATEST((SELECT timeline_id FROM pg_control_checkpoint()),
                                     (SELECT min_recovery_end_timeline FROM pg_control_recovery())))
              ELSE ${CURRENT_TIMELINE_SQL} END AS timeline
)
SELECT json_build_object(
  'in_recovery', pg_is_in_recovery(),
  'wal_lsn', CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()::text ELSE pg_current_wal_lsn()::text END,
  'replay_lsn', pg_last_wal_replay_lsn()::text,
  'timeline', (SELECT timeline FROM t),
  -- Its timeline's history (none on timeline 1), and the oldest WAL it still holds: what
  -- tells, without a log line, why a standby of it cannot stream (planning/streaming.ts).
  'history', (SELECT pg_read_file('pg_wal/' || lpad(upper(to_hex(timeline)), 8, '0') || '.history', 0, 1048576, true)
              FROM t),
  'oldest_wal', (SELECT min(name) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'),
  'upstream_host', (SELECT sender_host FROM pg_stat_wal_receiver),
  'upstream_port', (SELECT sender_port FROM pg_stat_wal_receiver),
  'receiver_status', (SELECT status FROM pg_stat_wal_receiver),
  'conninfo_host', substring(current_setting('primary_conninfo') FROM 'host=([^ ]+)'),
  'conninfo_port', substring(current_setting('primary_conninfo') FROM 'port=([0-9]+)'),
  'slot_setting', NULLIF(current_setting('primary_slot_name'), ''),
  'slots', (SELECT COALESCE(json_agg(json_build_object('name', slot_name, 'active', active, 'walStatus', wal_status)
                                     ORDER BY slot_name), '[]') FROM pg_replication_slots),
  'replicas', (SELECT COALESCE(json_agg(json_build_object('name', application_name, 'state', state,
                                        'syncState', sync_state,
                                        'replayLagSeconds', EXTRACT(epoch FROM replay_lag)::float8,
                                        'ssl', (SELECT ssl FROM pg_stat_ssl WHERE pg_stat_ssl.pid = pg_stat_replication.pid))
                                        ORDER BY application_name), '[]') FROM pg_stat_replication),
  -- The volume is the data directory's parent; superusers may list it.
  'kept', (SELECT COALESCE(json_agg(name ORDER BY name), '[]')
           FROM pg_ls_dir('${PATHS.volume}') AS name WHERE name LIKE '${DIVERGED_PREFIX}%')
)`;

async function askInContainer(endpoint: NodeEndpoint): Promise<string> {
    const { stdout } = await dockerOn(
        endpoint.dockerHost,
        ["exec", "-u", "postgres", endpoint.container, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", OBSERVE_SQL],
        { timeout: 10_000 },
    ); // prettier-ignore
    return stdout;
}

/**
 * The Postgres client, loaded when a node is first asked over TCP: a cold `up` of a new
 * stack asks none, and the program's time before its first resource is every `up`'s.
 */
let pg: typeof Pg | undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
const postgresClient = () => (pg ??= require("pg") as typeof Pg).Client;

async function askOverTcp(url: string): Promise<string> {
    const Client = postgresClient();
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000, query_timeout: 5000 });
    // A server that goes away mid-query must not take the process with it.
    client.on("error", () => undefined);
    try {
        await client.connect();
        const { rows } = await client.query<{ row: unknown }>(`SELECT (${OBSERVE_SQL}) AS row`);
        return JSON.stringify(rows[0].row);
    } finally {
        await client.end().catch(() => undefined);
    }
}

async function containerState(endpoint: NodeEndpoint): Promise<NodeObservation["container"] | "unreachable"> {
    try {
        const { stdout } = await dockerOn(
            endpoint.dockerHost,
            ["container", "inspect", "-f", "{{.State.Running}}", endpoint.container],
            { timeout: 15_000 },
        );
        return stdout.trim() === "true" ? "running" : "stopped";
    } catch (err) {
        // "No such container" is an answer; an engine that does not answer is not one.
        return /no such/i.test((err as { stderr?: string }).stderr ?? "") ? "missing" : "unreachable";
    }
}

/** Whether a stopped container's data directory carries standby.signal (read from its volume). */
async function stoppedAsStandby(endpoint: NodeEndpoint): Promise<boolean> {
    return dockerOn(endpoint.dockerHost, ["cp", `${endpoint.container}:${PATHS.pgdata}/standby.signal`, "-"]).then(
        () => true,
        () => false,
    );
}

/**
 * One round of questions to one node, inside its container as postgres over the local
 * socket (peer authentication: no password, no published port involved). Nothing here
 * changes the node. Every failure is an observation too (unreachable, with the error),
 * never an exception.
 */
export async function observeNode(endpoint: NodeEndpoint): Promise<NodeObservation> {
    const base = { name: endpoint.name, slots: [], replicas: [] };
    if (endpoint.gone) {
        const error = `not asked: its host ${endpoint.gone.host} is marked gone (pgtopo:hosts.${endpoint.gone.host}.gone)`;
        return { ...base, container: "running", reachable: false, error };
    }
    try {
        // Straight to the query: in a healthy cluster that is all it takes. Only when it
        // fails is the container looked at, to say why.
        const row = JSON.parse(endpoint.url ? await askOverTcp(endpoint.url) : await askInContainer(endpoint)) as Record<string, unknown>; // prettier-ignore
        const text = (v: unknown) => (typeof v === "string" ? v : undefined);
        // The host (and port) it streams from, as a node name when it is one of the stack's.
        const peer = (host: unknown, port: unknown) => {
            const h = text(host);
            if (h === undefined) return undefined;
            return endpoint.peers?.get(`${h}:${port === null || port === undefined ? 5432 : String(port)}`) ?? h;
        };
        return {
            ...base,
            container: "running",
            reachable: true,
            inRecovery: row.in_recovery as boolean,
            timeline: Number(row.timeline),
            walLsn: text(row.wal_lsn),
            replayLsn: text(row.replay_lsn),
            upstreamHost: peer(row.upstream_host, row.upstream_port),
            receiverStatus: text(row.receiver_status),
            conninfoHost: peer(row.conninfo_host, row.conninfo_port),
            slotSetting: text(row.slot_setting),
            slots: row.slots as SlotObservation[],
            replicas: row.replicas as NodeObservation["replicas"],
            keptData: row.kept as string[],
            history: parseTimelineHistory(text(row.history) ?? ""),
            oldestWal: text(row.oldest_wal),
        };
    } catch (err) {
        const container = await containerState(endpoint);
        if (container === "unreachable") {
            const where = endpoint.dockerHost ?? "the local Docker engine";
            return { ...base, container: "running", reachable: false, error: `its engine (${where}) does not answer` };
        }
        if (container === "stopped") {
            const dataIsStandby = await stoppedAsStandby(endpoint);
            return { ...base, container, reachable: false, error: "container stopped", dataIsStandby };
        }
        if (container === "missing") return { ...base, container, reachable: false, error: "container missing" };
        const e = err as { stderr?: string; message: string };
        const why = (e.stderr ?? "").trim().split("\n").pop() || e.message.split("\n")[0];
        return { ...base, container, reachable: false, error: why };
    }
}

/**
 * The superuser's libpq URI of a node, on its port published on 127.0.0.1 (or, across
 * hosts, on its host's address). With pgtopo:tls, the stack's CA file on this machine: the
 * client then verifies the server (its certificate names that address) and a plaintext
 * connection is never tried.
 */
export function superuserUrl(password: string, port: number, caFile?: string, address = "127.0.0.1"): string {
    const url = `postgresql://postgres:${encodeURIComponent(password)}@${address}:${port}/postgres`;
    return caFile ? `${url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}` : url;
}

/**
 * One libpq multi-host URI over every node, asking for a read-write session
 * (target_session_attrs): libpq tries each in turn and keeps the primary, whichever it
 * is. For clients that want no router (libpq-based ones; node-postgres has no multi-host
 * support).
 */
export function multiHostUrl(
    password: string,
    nodes: readonly { readonly address: string; readonly port: number }[],
    caFile?: string,
): string {
    const hosts = nodes.map((n) => `${n.address}:${n.port}`).join(",");
    const tls = caFile ? `&sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}` : "";
    return `postgresql://postgres:${encodeURIComponent(password)}@${hosts}/postgres?target_session_attrs=read-write${tls}`;
}

/**
 * The URI to ask a node over TCP with, when that can be done: the password is known and,
 * with TLS, the CA file is there to verify the server (the `up` that turns TLS on writes
 * it); otherwise undefined, and the node is asked in its container.
 */
export function tcpUrl(password: string | undefined, port: number, caFile?: string): string | undefined {
    if (!password || (caFile && !existsSync(caFile))) return undefined;
    return superuserUrl(password, port, caFile);
}

export function observeCluster(endpoints: readonly NodeEndpoint[]): Promise<NodeObservation[]> {
    return Promise.all(endpoints.map(observeNode));
}

/**
 * Where to ask each node: over its port published on this machine's loopback when the
 * superuser's password is given; in its container otherwise, and always across hosts,
 * where pg_hba lets in only the cluster's hosts and pgtopo:clients, not this machine.
 */
export const endpointsOf = (request: ConvergeRequest, superuserPassword?: string): NodeEndpoint[] =>
    endpointsFor(request.nodes, (n) =>
        n.dockerHost === undefined ? tcpUrl(superuserPassword, n.port, request.caFile) : undefined,
    );

/** What endpointsFor needs of a node: a planned node, or one the stack's `nodes` output describes. */
export type EndpointSource = Pick<PlannedNode, "name" | "container" | "endpoint" | "host" | "dockerHost" | "gone">;

/** Where to ask each node, in its container unless `urlOf` gives it a TCP URL. */
export function endpointsFor<T extends EndpointSource>(
    nodes: readonly T[],
    urlOf: (node: T) => string | undefined = () => undefined,
): NodeEndpoint[] {
    const peers = peersOf(nodes);
    return nodes.map((n) => ({
        name: n.name,
        container: n.container,
        dockerHost: n.dockerHost,
        peers,
        ...(n.gone ? { gone: { host: n.host ?? "" } } : {}),
        url: urlOf(n),
    }));
}

/** Each node's endpoint, as "host:port", to its name (NodeEndpoint.peers). */
export function peersOf(nodes: readonly { name: string; endpoint: string }[]): ReadonlyMap<string, string> {
    return new Map(
        nodes.map((n) => {
            const { host, port } = splitEndpoint(n.endpoint);
            return [`${host}:${port}`, n.name];
        }),
    );
}

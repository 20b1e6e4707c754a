import type { ClusterConfig } from "../config/schema";
import { PGBACKREST_SERVER_PORT } from "./repository-host";

/**
 * pgtopo:backup.s3 across pgtopo:hosts: where a backup taken on the primary reaches each
 * standby's pgBackRest TLS server, to read the standby's files instead of its own (as on
 * one machine, where every node is on the stack's network).
 *
 * A node's server is published on its host's address at pgtopo:backup.serverPort, which
 * one port per host allows for one node only: a node that shares its host with another is
 * not published, and is read only by a primary on the same host (by name, on that host's
 * network of the stack). Its certificate names its host's address, so the primary
 * verifies it there as it does by name.
 *
 * The primary learns where its standbys are from pgtopo.conf (`pgtopo.backup_servers`, a
 * setting PostgreSQL keeps for pgtopo and reloads with the rest) rather than from its
 * container's environment: adding a standby changes the map, and must not replace the
 * primary's container.
 */

/** The custom setting pgtopo-backup reads with current_setting('pgtopo.backup_servers', true). */
export const BACKUP_SERVERS_SETTING = "pgtopo.backup_servers";

export interface BackupServers {
    /** Nodes whose server is published on their host's address, and where. */
    readonly published: ReadonlyMap<string, { readonly address: string; readonly port: number }>;
    /**
     * The value of pgtopo.backup_servers: "name=address:port" for a published node,
     * "name=address" for one that shares its host (reached by name from that host only).
     */
    readonly setting: string;
    /** Said in preview and up when some standby cannot be read from another host. */
    readonly note?: string;
}

/** The port the nodes' servers are published on: pgtopo:backup.serverPort, else pgBackRest's own. */
export function backupServerPort(config: Pick<ClusterConfig, "backup">): number {
    return config.backup?.serverPort ?? PGBACKREST_SERVER_PORT;
}

/**
 * Where each node's pgBackRest server is reached from other hosts; undefined where the
 * question does not arise (one machine; no backups; a repository host, which reaches the
 * nodes itself, with one node per host by rule).
 */
export function planBackupServers(
    config: Pick<ClusterConfig, "backup" | "hosts" | "nodes">,
): BackupServers | undefined {
    if (!config.hosts || !config.backup?.s3) return undefined;
    const hosts = config.hosts;
    const port = backupServerPort(config);
    const onHost = new Map<string, string[]>();
    for (const node of config.nodes) onHost.set(node.host!, [...(onHost.get(node.host!) ?? []), node.name]);

    const published = new Map<string, { address: string; port: number }>();
    const entries: string[] = [];
    for (const node of config.nodes) {
        const address = hosts[node.host!].address;
        if (onHost.get(node.host!)!.length === 1) {
            published.set(node.name, { address, port });
            entries.push(`${node.name}=${address}:${port}`);
        } else {
            entries.push(`${node.name}=${address}`);
        }
    }
    const shared = [...onHost].filter(([, names]) => names.length > 1);
    const note =
        shared.length === 0
            ? undefined
            : `backups read a standby's files through its pgBackRest server; ${shared
                  .map(([host, names]) => `${names.join(", ")} share host ${host}`)
                  .join(
                      "; ",
                  )}, so their servers are not published there (one port, ${port}, per host): a backup reads them only when the primary is on the same host, and reads the primary's own files otherwise`;
    return { published, setting: entries.join(" "), note };
}

/**
 * The published servers' port against what else each of their hosts publishes: the node's
 * own PostgreSQL port and the routers' listeners (pgtopo:endpoints, on every host).
 */
export function backupServerProblems(
    config: Pick<ClusterConfig, "backup" | "hosts" | "nodes" | "endpoints">,
): string[] {
    const published = planBackupServers(config)?.published;
    if (!published || published.size === 0) return [];
    const port = backupServerPort(config);
    const field =
        config.backup?.serverPort === undefined
            ? `pgtopo:backup.serverPort (default ${port})`
            : `pgtopo:backup.serverPort: ${port}`;
    const problems: string[] = [];
    for (const node of config.nodes) {
        if (published.has(node.name) && node.port === port) {
            problems.push(
                `${field} is node ${node.name}'s PostgreSQL port on host ${node.host}, where its pgBackRest server is published too; allowed: another port`,
            );
        }
    }
    for (const listener of ["rw", "ro"] as const) {
        if (config.endpoints?.[listener]?.port === port) {
            problems.push(`${field} is the port of pgtopo:endpoints.${listener} on every host; allowed: another port`);
        }
    }
    return problems;
}

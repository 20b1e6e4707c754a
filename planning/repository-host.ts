import type { BackupConfig, ClusterConfig } from "../config/schema";
import { PATHS, STANZA } from "../contract/image";
import { REPOSITORY_NAME } from "../contract/names";

/**
 * pgtopo:backup.repositoryHost: the repository in a container of its own, as pgBackRest
 * intends a repository host: nodes archive to it and restore from it through its TLS
 * server; backups run in it, reading the nodes' files through theirs. One client identity
 * for the stack (the CA's `client` certificate, CN pgtopo-backup) on both sides, so each
 * server lets in exactly what the other holds.
 */

export { REPOSITORY_NAME };

/** pgBackRest's own TLS server port, inside every container (published as repositoryHost.port across hosts). */
export const PGBACKREST_SERVER_PORT = 8432;

/** The client certificate both sides present: the one the nodes' servers already let in. */
const CLIENT = {
    ca: `${PATHS.tls}/ca.crt`,
    cert: `${PATHS.tls}/client.crt`,
    key: `${PATHS.tls}/client.key`,
};

/** Where pgBackRest's servers are reached: the container's port on one machine, the published one across hosts. */
export function serverPort(config: Pick<ClusterConfig, "hosts" | "backup">): number {
    return config.hosts && config.backup?.repositoryHost ? config.backup.repositoryHost.port : PGBACKREST_SERVER_PORT;
}

/** A node's pgBackRest settings for a repository on the repository host. */
export function remoteRepositoryEnvironment(port: number): Record<string, string> {
    return {
        PGBACKREST_REPO1_HOST: REPOSITORY_NAME,
        PGBACKREST_REPO1_HOST_TYPE: "tls",
        PGBACKREST_REPO1_HOST_PORT: String(port),
        PGBACKREST_REPO1_HOST_CA_FILE: CLIENT.ca,
        PGBACKREST_REPO1_HOST_CERT_FILE: CLIENT.cert,
        PGBACKREST_REPO1_HOST_KEY_FILE: CLIENT.key,
    };
}

/**
 * The repository container's environment: the repository itself (the volume), its TLS
 * server, and every node that is not on a host marked gone as pg1..pgN (in config order:
 * pgBackRest finds which one is primary when it backs up). Its certificate and key come
 * from pgtopo-tls in the container (`repository`), like a node's.
 */
export function repositoryHostEnvironment(
    backup: BackupConfig,
    nodes: readonly string[],
    port: number,
): Record<string, string> {
    const pg = nodes.flatMap((name, i) => {
        const n = `PGBACKREST_PG${i + 1}`;
        return [
            [`${n}_HOST`, name],
            [`${n}_HOST_TYPE`, "tls"],
            [`${n}_HOST_PORT`, String(port)],
            [`${n}_HOST_CA_FILE`, CLIENT.ca],
            [`${n}_HOST_CERT_FILE`, CLIENT.cert],
            [`${n}_HOST_KEY_FILE`, CLIENT.key],
            [`${n}_PATH`, PATHS.pgdata],
            [`${n}_SOCKET_PATH`, PATHS.socketDir],
        ];
    });
    return {
        PGBACKREST_STANZA: STANZA,
        PGBACKREST_REPO1_PATH: PATHS.repository,
        PGBACKREST_REPO1_RETENTION_FULL: String(backup.retention.full),
        PGBACKREST_START_FAST: "y",
        PGBACKREST_COMPRESS_TYPE: "lz4",
        PGBACKREST_LOG_LEVEL_CONSOLE: "warn",
        PGBACKREST_LOG_LEVEL_FILE: "off",
        PGBACKREST_TLS_SERVER_ADDRESS: "*",
        PGBACKREST_TLS_SERVER_AUTH: `pgtopo-backup=${STANZA}`,
        PGBACKREST_TLS_SERVER_CA_FILE: CLIENT.ca,
        PGBACKREST_TLS_SERVER_CERT_FILE: `${PATHS.tls}/${REPOSITORY_NAME}.crt`,
        PGBACKREST_TLS_SERVER_KEY_FILE: `${PATHS.tls}/${REPOSITORY_NAME}.key`,
        ...Object.fromEntries(pg),
    };
}

import type { BackupConfig, S3RepositoryConfig } from "../config/schema";
import { PATHS, STANZA } from "../contract/image";
import { PGBACKREST_SERVER_PORT, REPOSITORY_NAME, remoteRepositoryEnvironment } from "./repository-host";

/**
 * pgBackRest as pgtopo runs it: one stanza per stack, its repository in a volume of the
 * stack mounted at the same path in every node, so that whichever node is primary
 * archives into it and a backup taken on any node lands there. Configured only through
 * the environment (PGBACKREST_*), so that nothing is written into the data directory and
 * the same image serves every stack.
 */

/** Where a stack's repository lives in pgtopo:backup.s3's bucket: one prefix per stack. */
export function s3RepositoryPath(s3: S3RepositoryConfig, stack: string): string {
    return `${s3.prefix.replace(/\/+$/, "")}/${stack}`;
}

/** How messages name the store: its bucket, or a stack's repository in it. */
export function s3Url(s3: S3RepositoryConfig, stack?: string): string {
    return `https://${s3.endpoint}/${s3.bucket}${stack === undefined ? "" : s3RepositoryPath(s3, stack)}`;
}

/**
 * pgBackRest's repository settings: the volume mounted at PATHS.repository, or the S3
 * bucket (its keys apart, in repositorySecrets). With a CA, the image writes
 * PGTOPO_REPOSITORY_CA (base64 of the PEM) to PATHS.repositoryCa and pgBackRest verifies by it.
 */
export function repositoryEnvironment(backup: BackupConfig, stack: string, onHosts = false): Record<string, string> {
    const s3 = backup.s3;
    if (backup.repositoryHost) {
        // The same path as in the repository container: pgBackRest hands it to the remote.
        const port = onHosts ? backup.repositoryHost.port : PGBACKREST_SERVER_PORT;
        return { PGBACKREST_REPO1_PATH: PATHS.repository, ...remoteRepositoryEnvironment(port) };
    }
    if (!s3) return { PGBACKREST_REPO1_PATH: PATHS.repository };
    const [host, port] = s3.endpoint.split(":");
    return {
        PGBACKREST_REPO1_TYPE: "s3",
        PGBACKREST_REPO1_PATH: s3RepositoryPath(s3, stack),
        PGBACKREST_REPO1_S3_ENDPOINT: host,
        PGBACKREST_REPO1_STORAGE_PORT: port ?? "443",
        PGBACKREST_REPO1_S3_BUCKET: s3.bucket,
        PGBACKREST_REPO1_S3_REGION: s3.region,
        PGBACKREST_REPO1_S3_URI_STYLE: s3.uriStyle,
        // Never turned off: a repository is only as safe as the store it is written to.
        PGBACKREST_REPO1_STORAGE_VERIFY_TLS: "y",
        // In base64: one line, as every value of a container's environment (PEM has several).
        ...(s3.ca
            ? {
                  PGBACKREST_REPO1_STORAGE_CA_FILE: PATHS.repositoryCa,
                  PGTOPO_REPOSITORY_CA: Buffer.from(s3.ca).toString("base64"),
              }
            : {}),
    };
}

/**
 * The object store's keys, by the names pgBackRest reads them from its environment (it
 * refuses them on a command line, where `ps` would show them). The caller marks them secret.
 */
export function repositorySecrets(backup: BackupConfig): Record<string, string> {
    if (!backup.s3) return {};
    return { PGBACKREST_REPO1_S3_KEY: backup.s3.accessKey, PGBACKREST_REPO1_S3_KEY_SECRET: backup.s3.secretKey };
}

/**
 * Whether WAL is archived asynchronously: the user's word; off unless asked. Measured here
 * (bench:archive, docs/benchmarks.md), async archiving did not archive faster into a nearby
 * object store nor into a volume, held more segments back under a bulk load, and once took
 * 15-19 s instead of 1 s to catch up after an OLTP load. It pays off where each segment costs
 * round trips to a distant store, which this machine cannot measure: the user's call.
 */
export function archivesAsync(backup: BackupConfig): boolean {
    return backup.archiveAsync ?? false;
}

/** The PGBACKREST_* environment of a node container (and of one-shots that use the repository), secrets apart. */
export function backupEnvironment(backup: BackupConfig, stack: string, onHosts = false): Record<string, string> {
    return {
        PGBACKREST_STANZA: STANZA,
        ...repositoryEnvironment(backup, stack, onHosts),
        PGBACKREST_REPO1_RETENTION_FULL: String(backup.retention.full),
        PGBACKREST_PG1_PATH: PATHS.pgdata,
        PGBACKREST_PG1_SOCKET_PATH: PATHS.socketDir,
        // A backup starts with an immediate checkpoint rather than waiting for the next one.
        PGBACKREST_START_FAST: "y",
        // The repository is a local volume: lz4 costs a fraction of gzip's CPU (the default),
        // on the two cores a node may have, for a little more space.
        PGBACKREST_COMPRESS_TYPE: "lz4",
        // What goes wrong goes to PostgreSQL's log (archive_command) or the caller; no log files.
        PGBACKREST_LOG_LEVEL_CONSOLE: "warn",
        PGBACKREST_LOG_LEVEL_FILE: "off",
        // PostgreSQL still waits for each segment to be in the repository before it may
        // recycle it: async only queues the pushes, so a repository away keeps WAL the same.
        ...(archivesAsync(backup) ? { PGBACKREST_ARCHIVE_ASYNC: "y", PGBACKREST_SPOOL_PATH: PATHS.spool } : {}),
        // Each node's TLS server (started by pgtopo-run, certificate per node), on the
        // stack's network only: a backup from a standby reads its files through it. Only
        // the backup client's certificate (CN pgtopo-backup) of the stack's CA gets in.
        PGBACKREST_TLS_SERVER_ADDRESS: "*",
        PGBACKREST_TLS_SERVER_AUTH: `pgtopo-backup=${STANZA}`,
        PGBACKREST_TLS_SERVER_CA_FILE: `${PATHS.tls}/ca.crt`,
    };
}

/**
 * The settings that make a primary archive every WAL segment into the repository (and let
 * a standby read from it). Every
 * node gets them: archive_mode = on archives only while a node is primary, so a standby
 * never archives over the primary, and a promoted node archives its new timeline (with
 * its history file) into the same repository from its first segment on.
 */
export function archiveSettings(backup: BackupConfig | undefined): Record<string, string> {
    if (!backup) return {};
    return {
        archive_mode: "on",
        archive_command: "pgbackrest archive-push %p",
        // A standby restored from the repository catches up from the archive before it
        // streams; any standby can fetch from there what its upstream no longer has.
        // From an object store, a short io-timeout: a standby that starts while the store
        // does not answer would otherwise wait minutes (pgBackRest retries a connection for
        // about four times it) before it turns to streaming from its upstream.
        restore_command: backup.s3
            ? `pgbackrest --io-timeout=${ARCHIVE_GET_TIMEOUT} archive-get %f "%p"`
            : 'pgbackrest archive-get %f "%p"',
    };
}

/**
 * A remote repository (pgtopo:backup.s3's object store, or pgtopo:backup.repositoryHost)
 * that does not answer: what this `up` cannot do without it is refused before anything
 * changes (a new standby to be restored from it); anything else goes on, with a warning,
 * since PostgreSQL keeps the WAL it cannot archive and archiving catches up by itself once
 * the repository is back. `repositoryHost` names the repository host's container (and its
 * host across hosts).
 */
export function repositoryAway(
    backup: BackupConfig,
    unreachable: string,
    newStandbys: readonly string[],
    repositoryHost?: { readonly container: string; readonly host?: string },
): { problems: string[]; warning: string } {
    const [field, what, it] = backup.s3
        ? ["pgtopo:backup.s3", `the object store ${s3Url(backup.s3)}`, "the store"]
        : ["pgtopo:backup.repositoryHost", `the repository host (${repositoryHost?.container ?? REPOSITORY_NAME}${repositoryHost?.host ? ` on host ${repositoryHost.host}` : ""})`, "the repository host"]; // prettier-ignore
    const fromRepository = backup.standbysFrom === "repository" ? newStandbys : [];
    return {
        problems: fromRepository.map(
            (name) =>
                `${field}: ${what} does not answer (${unreachable}); ` +
                `new standby ${name} is to be restored from it (standbysFrom: repository): bring ${it} back, or set standbysFrom: upstream`,
        ),
        warning:
            `${field}: ${what} does not answer (${unreachable}); ` +
            "WAL that cannot be archived is kept in pg_wal until it is back, and backups fail meanwhile",
    };
}

/**
 * pgBackRest's io-timeout for pgtopo's own questions to the repository (what it holds, for
 * status, the survey and the restore check), in seconds. pgBackRest retries a connection
 * for about four times its io-timeout: with the default (60 s) a store that does not answer
 * would hold each question for over four minutes; these small reads need far less.
 */
export const REPOSITORY_QUESTION_TIMEOUT = 2;

/** pgBackRest's io-timeout for archive-get from an object store, in seconds (restore_command). */
export const ARCHIVE_GET_TIMEOUT = 5;

/** The part of a stanza in `pgbackrest info --output=json` that says whether its repository could be read. */
export interface StanzaStatus {
    readonly status?: { readonly code: number; readonly message: string };
    readonly repo?: readonly { readonly status?: { readonly code: number; readonly message: string } }[];
}

/**
 * Why pgBackRest could not read a stanza's repository (its "other", 99: an object store
 * that does not answer, say), in its own words from the repository's entry; undefined
 * when it could.
 */
export function unreadableRepository(stanza: StanzaStatus | undefined): string | undefined {
    if (stanza?.status?.code !== 99) return undefined;
    return stanza.repo?.find((r) => r.status?.code === 99)?.status?.message ?? stanza.status.message;
}

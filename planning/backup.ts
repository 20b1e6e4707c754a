import type { BackupConfig } from "../config/schema";
import { PATHS, STANZA } from "../contract/image";

/**
 * pgBackRest as pgtopo runs it: one stanza per stack, its repository in a volume of the
 * stack mounted at the same path in every node, so that whichever node is primary
 * archives into it and a backup taken on any node lands there. Configured only through
 * the environment (PGBACKREST_*), so that nothing is written into the data directory and
 * the same image serves every stack.
 */

/** The PGBACKREST_* environment of a node container (and of one-shots that use the repository). */
export function backupEnvironment(backup: BackupConfig): Record<string, string> {
    return {
        PGBACKREST_STANZA: STANZA,
        PGBACKREST_REPO1_PATH: PATHS.repository,
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
        restore_command: 'pgbackrest archive-get %f "%p"',
    };
}

/**
 * The contract between the node image (images/postgres) and the program: every path,
 * mount, name, environment variable, argument shape and exit code that both sides rely
 * on, written once, here. The image's scripts read it from `lib/contract.sh`, which is
 * generated from this module (`npm run contract`; tests/unit/contract.test.ts fails when
 * the file is stale, or when a script uses a path or a name that is not here).
 *
 * The image then reports what happened through exit codes and PostgreSQL's own state,
 * never through the wording of a log line: no decision of the program reads one.
 */

/** Paths inside a node's container (and in one-shot containers on its volume). */
export const PATHS = {
    /** The node's volume; its data directory and anything set aside from it live here. */
    volume: "/var/lib/postgresql/data",
    /** The data directory: PGDATA. Bootstraps build it beside it, as `<pgdata>.partial`. */
    pgdata: "/var/lib/postgresql/data/pgdata",
    /** The postgres user's home (its .pgpass for the replication role). */
    postgresHome: "/var/lib/postgresql",
    /** PostgreSQL's Unix socket: every local question is asked there, as postgres (peer). */
    socketDir: "/var/run/postgresql",
    /** The stack's TLS volume: its CA and each node's certificate (pgtopo:tls, pgtopo:backup). */
    tls: "/etc/pgtopo/tls",
    /** The CA and the node's own certificate, copied into its volume at every start (pgtopo:tls). */
    tlsInVolume: "/var/lib/postgresql/data/tls",
    /** pgBackRest's spool for asynchronous archiving (pgtopo:backup.archiveAsync): one per node, in its volume. */
    spool: "/var/lib/postgresql/data/pgbackrest-spool",
    /** The stack's pgBackRest repository (pgtopo:backup). */
    repository: "/var/lib/pgbackrest",
    /** Another stack's repository, mounted read-only for a restore into this one. */
    restoreSource: "/var/lib/pgbackrest-source",
    /** pgtopo:backup.s3.ca, written from PGTOPO_REPOSITORY_CA at start: what pgBackRest verifies the store by. */
    repositoryCa: "/etc/pgtopo/repository-ca.crt",
    /** Settings the image writes for its own jobs (the scheduled backup's environment). */
    etc: "/etc/pgtopo",
    /** Present while the entrypoint waits for a bootstrap: it holds the waiting process's pid. */
    waitingPidFile: "/run/pgtopo-waiting.pid",
    /**
     * Why this standby cannot stream as it is, as PostgreSQL said it (pgtopo-log-watch):
     * a StreamingFailure word ("wal-gone", "diverged"), or empty.
     */
    streamingState: "/run/pgtopo-streaming",
} as const;

/** What is set aside in a node's volume is named `<this><UTC time>` (with `-wal` for a rewind's WAL). */
export const DIVERGED_PREFIX = "pgdata.diverged-";

/** pgBackRest's stanza: one per stack, in the stack's own repository. */
export const STANZA = "pgtopo";

/** The image's scripts (images/postgres/bin) that the program runs, and what each does. */
export const SCRIPTS = {
    /** Entrypoint: starts PostgreSQL on the volume's data directory, or waits for one. */
    run: "pgtopo-run",
    /** initdb, the replication role and the settings: a new primary (in the node's container). */
    init: "pgtopo-init",
    /** The standby's slot on its upstream, then pg_basebackup through it (in the node's container). */
    clone: "pgtopo-clone",
    /** A new stack's primary restored from another stack's repository (one-shot). */
    restore: "pgtopo-restore",
    /**
     * Exit 0 once the server accepts connections, EXIT.notReady if it has not within a
     * second: the poll of the readiness gate (scripts/node-ready.sh), one `docker exec` each.
     */
    ready: "pgtopo-ready",
    /** `create NAME` / `drop NAME`: a standby's slot, on its upstream. */
    slot: "pgtopo-slot",
    /** `UPSTREAM SLOT [--no-wait]`: re-points a standby (reload, no restart). */
    follow: "pgtopo-follow",
    /** Applies PGTOPO_SETTINGS; `--offline` on a stopped node's volume. */
    configure: "pgtopo-configure",
    /** `SOURCE UPSTREAM SLOT`: a stopped node rewound onto SOURCE's timeline, left as a standby (one-shot). */
    rewind: "pgtopo-rewind",
    /** `[discard]`: the data directory moved aside in the volume (kept unless discard), for a new clone (one-shot). */
    setAside: "pgtopo-set-aside",
    /** Reads PostgreSQL's log (pgtopo-run pipes it), passes it on, keeps why a standby cannot stream. */
    logWatch: "pgtopo-log-watch",
    /** pgtopo:backup: keeps this node's pgBackRest TLS server running (started by pgtopo-run). */
    backupServer: "pgtopo-backup-server",
    /** The LSN a cleanly stopped node's WAL ends at (one-shot). */
    checkpointLsn: "pgtopo-checkpoint-lsn",
    /** `[full|diff|incr] [--if-primary]`: a backup into the repository, on the primary (or in the repository host's container). */
    backup: "pgtopo-backup",
    /** The stack's CA (`--ca`), a node's certificate, or the repository host's (`--repository`), in the TLS volume. */
    tls: "pgtopo-tls",
    /** pgtopo:endpoints: the routers' role and lookup function, on the primary. */
    routerAuth: "pgtopo-router-auth",
    /** pgtopo:backup.repositoryHost: entrypoint of the repository's container (pgBackRest's server, scheduled backups). */
    repository: "pgtopo-repository",
} as const;

/** Environment variables the program hands to the image (names; secrets never on a command line). */
export const ENV = {
    /** The node's name in the config. */
    node: "PGTOPO_NODE",
    /** pgtopo.conf, rendered by planning/settings.ts. */
    settings: "PGTOPO_SETTINGS",
    superuserPassword: "PGTOPO_SUPERUSER_PASSWORD",
    replicationPassword: "PGTOPO_REPLICATION_PASSWORD",
    /** A clone's upstream (an endpoint: a node name, or ADDRESS:PORT across hosts) and slot. */
    upstream: "PGTOPO_UPSTREAM",
    slot: "PGTOPO_SLOT",
    /** `repository`: a new standby's first copy from the backup repository, not its upstream. */
    cloneFrom: "PGTOPO_CLONE_FROM",
    /** `on` with pgtopo:tls. */
    tls: "PGTOPO_TLS",
    /** pgtopo:hosts: the node's host's address, every host's, and pgtopo:clients. */
    address: "PGTOPO_ADDRESS",
    peerAddresses: "PGTOPO_PEER_ADDRESSES",
    clientAddresses: "PGTOPO_CLIENT_ADDRESSES",
    /** pgtopo:backup.s3.ca, base64 of its PEM: what the object store is verified by (common.sh writes it to PATHS.repositoryCa). */
    repositoryCa: "PGTOPO_REPOSITORY_CA",
    /** pgtopo:backup.schedule, a cron expression. */
    backupSchedule: "PGTOPO_BACKUP_SCHEDULE",
    /** pgtopo:endpoints: the password of the role the routers look clients up as. */
    routerPassword: "PGTOPO_ROUTER_PASSWORD",
    /** pgtopo:restore: pgBackRest's --type and --target (planning/restore.ts). */
    restoreType: "PGTOPO_RESTORE_TYPE",
    restoreTarget: "PGTOPO_RESTORE_TARGET",
    /** Set by the image itself (its Dockerfile): the volume's mount and PostgreSQL's data directory. */
    volume: "PGTOPO_VOLUME",
    pgdata: "PGDATA",
} as const;

/**
 * The router image (images/pgbouncer): its entrypoint, and the admin command the program
 * drives it with (`docker exec`): point, pause, resume, state.
 */
export const ROUTER_SCRIPTS = {
    run: "pgtopo-router-run",
    admin: "pgtopo-router",
} as const;

/** What the router image and the program share besides its scripts' names. */
export const ROUTER = {
    paths: {
        /** Everything it writes at run time, the auth_user's password among it: a tmpfs. */
        runtime: "/run/pgtopo-router",
        /** Where its listeners point (`pgtopo-router point`): in a volume that outlives the container. */
        data: "/var/lib/pgtopo-router",
        targets: "/var/lib/pgtopo-router/targets",
        /** The stack's TLS volume (its CA, from which it issues its own certificate), read only. */
        tls: PATHS.tls,
    },
    /** Each listener's port inside the container (the program publishes them). */
    ports: { rw: 6432, ro: 6433 },
    /** The PostgreSQL role it looks clients up as (pgtopo-router-auth makes it), and where. */
    authUser: "pgtopo_router",
    authDbname: "postgres",
    env: {
        password: "PGTOPO_ROUTER_PASSWORD",
        poolMode: "PGTOPO_ROUTER_POOL_MODE",
        maxClientConnections: "PGTOPO_ROUTER_MAX_CLIENT_CONN",
        poolSize: "PGTOPO_ROUTER_POOL_SIZE",
        /** Its host name on the stack's network (a name its certificate carries). */
        name: "PGTOPO_ROUTER_NAME",
        tls: "PGTOPO_TLS",
        /** pgtopo:hosts: its host's address (a name its certificate carries) and pgtopo:clients. */
        address: "PGTOPO_ADDRESS",
        clientAddresses: "PGTOPO_CLIENT_ADDRESSES",
    },
} as const;

/** Exit codes with a meaning beyond "failed" (1). */
export const EXIT = {
    /** pgtopo-configure: applied, but a changed setting needs a restart, which the caller does. */
    restartNeeded: 3,
    /** pgtopo-rewind: nothing to rewind (the node's WAL ends before the fork); it is a standby now. */
    noRewindNeeded: 10,
    /** pgtopo-router pause: in-flight transactions did not finish in time; the router was resumed. */
    pauseTimedOut: 4,
    /** pgtopo-ready: the server does not accept connections yet. */
    notReady: 5,
} as const;

/**
 * The timeline a primary writes on now. Until its first checkpoint a new primary's control
 * file still names the old one; the WAL file it writes is named after the new one.
 */
export const CURRENT_TIMELINE_SQL = "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int";

/**
 * The program's own files, shared with its host-side scripts (scripts/*.sh), which read
 * them from the same generated file.
 */
export const HOST = {
    /**
     * A node's bootstrap marks its failure here (a shell word, expanded where it is used),
     * where its readiness gate, which waits beside it, sees it (scripts/node-ready.sh).
     */
    bootstrapFailedMarkerPrefix: "${TMPDIR:-/tmp}/pgtopo-bootstrap-failed.",
    /** Under PGTOPO_HOME, per engine (named after its URL: engine ids): a tcp:// engine's client certificate. */
    dockerTlsDir: "docker-tls",
    /** Under PGTOPO_HOME, per engine: the mark of a host marked gone (pgtopo:hosts.NAME.gone). */
    goneDir: "gone",
} as const;

/** `images/postgres/lib/contract.sh`: this module as shell variables, read by every script. */
export function renderContractShell(): string {
    const line = (name: string, value: string | number) => `readonly ${name}=${shellWord(String(value))}`;
    const upper = (key: string) => key.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
    return [
        "# Generated from contract/image.ts by `npm run contract`: do not edit. The contract",
        "# between this image and the pgtopo program (paths, names, exit codes).",
        "# Sourced by the image's scripts and the program's own; once per shell is enough.",
        '[ -z "${PGTOPO_PATH_VOLUME:-}" ] || return 0',
        ...Object.entries(PATHS).map(([key, value]) => line(`PGTOPO_PATH_${upper(key)}`, value)),
        line("PGTOPO_DIVERGED_PREFIX", DIVERGED_PREFIX),
        line("PGTOPO_STANZA", STANZA),
        line("PGTOPO_SCRIPT_READY", SCRIPTS.ready),
        ...Object.entries(EXIT).map(([key, value]) => line(`PGTOPO_EXIT_${upper(key)}`, value)),
        line("PGTOPO_CURRENT_TIMELINE_SQL", CURRENT_TIMELINE_SQL),
        `readonly PGTOPO_BOOTSTRAP_FAILED_MARKER_PREFIX="${HOST.bootstrapFailedMarkerPrefix}"`,
        line("PGTOPO_HOME_DOCKER_TLS_DIR", HOST.dockerTlsDir),
        line("PGTOPO_HOME_GONE_DIR", HOST.goneDir),
        "",
    ].join("\n");
}

/** `images/pgbouncer/lib/contract.sh`: the router's part of the contract, read by its scripts. */
export function renderRouterContractShell(): string {
    return [
        "# Generated from contract/image.ts by `npm run contract`: do not edit. The contract",
        "# between the router image and the pgtopo program (paths, ports, names, exit codes).",
        '[ -z "${ROUTER_RUNTIME_DIR:-}" ] || return 0',
        `readonly ROUTER_RUNTIME_DIR=${shellWord(ROUTER.paths.runtime)}`,
        `readonly ROUTER_TARGETS_FILE=${shellWord(ROUTER.paths.targets)}`,
        `readonly ROUTER_TLS_VOLUME=${shellWord(ROUTER.paths.tls)}`,
        `declare -rA ROUTER_PORT=([rw]=${ROUTER.ports.rw} [ro]=${ROUTER.ports.ro})`,
        `readonly ROUTER_AUTH_USER=${shellWord(ROUTER.authUser)}`,
        `readonly ROUTER_AUTH_DBNAME=${shellWord(ROUTER.authDbname)}`,
        `readonly ROUTER_EXIT_PAUSE_TIMED_OUT=${EXIT.pauseTimedOut}`,
        "",
    ].join("\n");
}

function shellWord(text: string): string {
    return /^[A-Za-z0-9_./:-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

import type * as CronParser from "cron-parser";
import { z } from "zod";
import debianReleases from "./debian-releases.json";

/**
 * Node names become Docker container names, network aliases (host names) and, with `-`
 * turned into `_`, replication slot names. This pattern is the intersection of what
 * all three accept, kept short so that derived names stay under PostgreSQL's 63-byte
 * identifier limit.
 */
export const NODE_NAME_PATTERN = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
export const NODE_NAME_RULE =
    "1 to 32 characters: lowercase letters, digits and '-', starting with a letter and not ending with '-'";

/** Published ports stay out of the privileged range so that no root is needed to bind them. */
export const MIN_PORT = 1024;
export const MAX_PORT = 65535;

/**
 * The PostgreSQL majors pgtopo runs, each with the Debian release whose own archive ships
 * it (the only package archive these machines reach): bookworm has 15, trixie has 17.
 * 16 is in neither, so it is refused rather than failing deep inside an image build.
 * The JSON file is shared with scripts/lib.sh, which makes the base image before `up`.
 */
export const DEBIAN_RELEASE_OF: Readonly<Record<"15" | "17", string>> = debianReleases;
export type PostgresVersion = keyof typeof DEBIAN_RELEASE_OF;
export const SUPPORTED_POSTGRES_VERSIONS = Object.keys(DEBIAN_RELEASE_OF) as [PostgresVersion, ...PostgresVersion[]];

/** The base image made locally (scripts/base-image.sh) for a version: pgtopo/debian:<release>. */
export function defaultBaseImage(version: PostgresVersion): string {
    return `pgtopo/debian:${DEBIAN_RELEASE_OF[version]}`;
}

/**
 * Settings pgtopo itself sets from the topology; letting `pgtopo:parameters` override
 * them would break replication or the security defaults, so they are refused there.
 */
export const MANAGED_PARAMETERS = [
    "listen_addresses",
    "port",
    "data_directory",
    "hba_file",
    "ident_file",
    "config_file",
    "include",
    "include_if_exists",
    "include_dir",
    "wal_level",
    "hot_standby",
    "primary_conninfo",
    "primary_slot_name",
    "synchronous_standby_names",
    "password_encryption",
    "max_wal_senders",
    "max_replication_slots",
    "archive_mode",
    "archive_command",
    "restore_command",
    "ssl",
    "ssl_cert_file",
    "ssl_key_file",
    // planning/backup-servers.ts: where the primary reads its standbys' files for a backup.
    "pgtopo.backup_servers",
] as const;

/** A cron expression of five fields (minute hour day-of-month month day-of-week). */
function isCron(text: string): boolean {
    if (text.trim().split(/\s+/).length !== 5) return false;
    // Loaded here, by the only config that has a schedule (pgtopo:backup), not by every `up`.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { CronExpressionParser } = require("cron-parser") as typeof CronParser;
    try {
        CronExpressionParser.parse(text);
        return true;
    } catch {
        return false;
    }
}

/** A restore target: "latest", an ISO 8601 time with its zone, or an LSN such as 0/3000060. */
export const RESTORE_TARGET_RULE =
    '"latest", an ISO 8601 time with its zone (such as "2026-11-22T08:00:00Z"), or an LSN (such as "0/3000060")';
export function isRestoreTarget(text: string): boolean {
    if (text === "latest" || /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i.test(text)) return true;
    return (
        /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$/.test(text) &&
        !Number.isNaN(Date.parse(text))
    );
}

const restoreSchema = z.strictObject({
    fromStack: z
        .string({ error: "must be the name of a stack whose backups are on" })
        .regex(/^[A-Za-z0-9_.-]+$/, { error: "must be the name of a stack whose backups are on" }),
    target: z
        .string({ error: `must be ${RESTORE_TARGET_RULE}` })
        .refine(isRestoreTarget, { error: `must be ${RESTORE_TARGET_RULE}` })
        .default("latest"),
});

/** What an S3 endpoint may be: a host name or IPv4 address, with an optional port. */
export const S3_ENDPOINT_RULE =
    "host or host:port of the object store's HTTPS endpoint, such as s3.eu-west-1.amazonaws.com or 10.0.0.9:8333 (no scheme: TLS is always on)";
const S3_BUCKET_RULE =
    "an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit";
const S3_PREFIX_RULE = 'a path such as "/pgtopo": a slash, then letters, digits, ".", "_", "-" and "/"';

/**
 * pgtopo:backup.s3: the repository in a bucket of an S3-compatible object store instead of
 * a local volume; every node, on whatever host, archives there. TLS is always verified
 * (against `ca` when given, else the image's system CAs); the keys are secrets
 * (`pulumi config set --secret --path ...`), handed to pgBackRest only through its
 * environment, never on a command line.
 */
const s3Schema = z.strictObject({
    endpoint: z
        .string({ error: `must be ${S3_ENDPOINT_RULE}` })
        .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$/, { error: `must be ${S3_ENDPOINT_RULE}` }),
    bucket: z
        .string({ error: `must be ${S3_BUCKET_RULE}` })
        .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: `must be ${S3_BUCKET_RULE}` }),
    region: z
        .string({ error: 'must be the bucket\'s region, such as "eu-west-1" (any name for stores without regions)' })
        .regex(/^[A-Za-z0-9-]+$/, { error: 'must be the bucket\'s region, such as "eu-west-1" (letters, digits, "-")' })
        .default("us-east-1"),
    /** Keys under this prefix in the bucket: one repository per stack, at `<prefix>/<stack>`. */
    prefix: z
        .string({ error: `must be ${S3_PREFIX_RULE}` })
        .regex(/^\/[A-Za-z0-9._/-]*$/, { error: `must be ${S3_PREFIX_RULE}` })
        .refine((p) => !p.split("/").includes(".."), { error: `must be ${S3_PREFIX_RULE}, without ".."` })
        .default("/pgtopo"),
    /** "path" (https://endpoint/bucket/key: works with any store) or "host" (https://bucket.endpoint/key). */
    uriStyle: z.enum(["path", "host"], { error: 'must be "path" or "host"' }).default("path"),
    /** The PEM CA certificate(s) to verify the endpoint by; absent: the system's CAs. */
    ca: z
        .string({ error: "must be PEM text of the CA certificate(s) the endpoint's certificate is checked against" })
        .regex(/-----BEGIN CERTIFICATE-----/, {
            error: "must be PEM text of the CA certificate(s) the endpoint's certificate is checked against",
        })
        .optional(),
    accessKey: z
        .string({ error: "must be the access key id, set as a secret" })
        .min(1, { error: "must be the access key id, set as a secret" }),
    secretKey: z
        .string({ error: "must be the secret access key, set as a secret" })
        .min(1, { error: "must be the secret access key, set as a secret" }),
});

const portSchema = z
    .number({ error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` })
    .int({ error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` })
    .min(MIN_PORT, { error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` })
    .max(MAX_PORT, { error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` });

/** pgtopo:backup.repositoryHost: where the repository container runs, and its TLS server's port there. */
const repositoryHostSchema = z.strictObject(
    {
        /** With pgtopo:hosts: the host it runs on (required there). Without: absent, the local engine. */
        host: z.string({ error: "must be the name of a host in pgtopo:hosts" }).optional(),
        /**
         * With pgtopo:hosts: the port of the repository's pgBackRest server on its host's
         * address, and of every node's on theirs (one port across the stack, as pgBackRest's
         * own default): so one node of the stack per host, and the repository on a host of
         * its own. On one machine everything stays on the stack's network and nothing is published.
         */
        port: z
            .number({ error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` })
            .int({ error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` })
            .min(MIN_PORT, { error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` })
            .max(MAX_PORT, { error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` })
            .default(8432),
    },
    { error: "must be { host, port } (both optional on one machine)" },
);

const backupSchema = z.strictObject({
    retention: z
        .strictObject({
            full: z
                .number({ error: "must be a whole number of full backups to keep, at least 1" })
                .int({ error: "must be a whole number of full backups to keep, at least 1" })
                .min(1, { error: "must be a whole number of full backups to keep, at least 1" }),
        })
        .default({ full: 2 }),
    schedule: z
        .string({ error: 'must be a cron expression such as "0 3 * * *" (daily at 03:00)' })
        .refine(isCron, { error: 'must be a cron expression of five fields, such as "0 3 * * *" (daily at 03:00)' })
        .default("0 3 * * *"),
    deleteBackupsOnDestroy: z.boolean({ error: "must be true or false" }).default(false),
    /**
     * Where a new standby gets its first copy of the data: "upstream" (pg_basebackup from the
     * node it streams from, as without backups) or "repository" (pgBackRest restores the
     * newest backup, the archive brings it forward, then it streams; the primary is not
     * read). Until the repository holds a backup, "repository" clones from the upstream.
     */
    standbysFrom: z
        .enum(["upstream", "repository"], {
            error: 'must be "upstream" (pg_basebackup) or "repository" (pgBackRest restore)',
        })
        .default("upstream"),
    /** The repository in an S3-compatible object store; absent: a volume on this machine. */
    s3: s3Schema.optional(),
    /**
     * The repository on a repository host: a pgBackRest container of its own (the node
     * image, so the same pgBackRest release as the nodes, which its protocol requires) with
     * the repository volume, which every node reaches through pgBackRest's TLS server with
     * the stack CA's client certificate; backups run there, as pgBackRest intends.
     */
    repositoryHost: repositoryHostSchema.optional(),
    /**
     * pgBackRest's asynchronous archiving (archive-async, with a spool directory in each
     * node's volume): PostgreSQL hands a segment over and the next one is pushed in the
     * background, several per connection. Default off: docs/benchmarks.md "WAL archiving"
     * has the figures that chose it (no gain with a nearby store; it helps with a distant one).
     */
    archiveAsync: z.boolean({ error: "must be true or false" }).optional(),
    /**
     * With pgtopo:hosts and s3: the port on its host's address where each node's pgBackRest
     * TLS server is published (default 8432), so that a backup taken on the primary reads a
     * standby on another host. Only a node alone on its host is published (one port per
     * host); a standby that shares its host is read only by a primary on the same host.
     * With repositoryHost the port is repositoryHost.port.
     */
    serverPort: portSchema.optional(),
});

/** How long a switchover may wait for in-flight transactions to finish behind paused routers. */
export const PAUSE_TIMEOUT_RULE = "a whole number of seconds from 1 to 60";

/**
 * pgtopo:endpoints: a router (PgBouncer) on every Docker host, whose `rw` listener always
 * reaches the primary and `ro` the streaming standbys; a switchover pauses them.
 */
const endpointsSchema = z
    .strictObject({
        rw: z.strictObject({ port: portSchema }, { error: "must be { port }" }).optional(),
        ro: z.strictObject({ port: portSchema }, { error: "must be { port }" }).optional(),
        /**
         * transaction (the default): a pause waits for transactions, not for clients; session
         * state (SET, advisory locks, LISTEN, temporary tables) is not carried. session: it
         * is, and a switchover then waits for the clients to disconnect, up to pauseTimeout.
         */
        pooling: z
            .enum(["transaction", "session"], { error: 'must be "transaction" or "session"' })
            .default("transaction"),
        pauseTimeout: z
            .number({ error: `must be ${PAUSE_TIMEOUT_RULE}` })
            .int({ error: `must be ${PAUSE_TIMEOUT_RULE}` })
            .min(1, { error: `must be ${PAUSE_TIMEOUT_RULE}` })
            .max(60, { error: `must be ${PAUSE_TIMEOUT_RULE}` })
            .default(10),
        maxClientConnections: z
            .number({ error: "must be a whole number of client connections from 1 to 100000" })
            .int({ error: "must be a whole number of client connections from 1 to 100000" })
            .min(1, { error: "must be a whole number of client connections from 1 to 100000" })
            .max(100_000, { error: "must be a whole number of client connections from 1 to 100000" })
            .default(1000),
        poolSize: z
            .number({ error: "must be a whole number of server connections per database and user, from 1 to 1000" })
            .int({ error: "must be a whole number of server connections per database and user, from 1 to 1000" })
            .min(1, { error: "must be a whole number of server connections per database and user, from 1 to 1000" })
            .max(1000, { error: "must be a whole number of server connections per database and user, from 1 to 1000" })
            .default(20),
    })
    .superRefine((e, ctx) => {
        if (e.rw !== undefined || e.ro !== undefined) return;
        ctx.addIssue({
            code: "custom",
            message: "must name at least one listener: rw (the primary) or ro (the standbys), each { port }",
        });
    });

const PARAMETER_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

const nodeSchema = z.strictObject({
    name: z.string({ error: "must be a string" }).regex(NODE_NAME_PATTERN, { error: `must be ${NODE_NAME_RULE}` }),
    port: z
        .number({ error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` })
        .int({ error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` })
        .min(MIN_PORT, { error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` })
        .max(MAX_PORT, { error: `must be an integer from ${MIN_PORT} to ${MAX_PORT}` }),
    upstream: z.string({ error: "must be the name of another node" }).optional(),
    /** A name from pgtopo:hosts: the Docker engine this node runs on. Absent: the local engine. */
    host: z.string({ error: "must be the name of a host in pgtopo:hosts" }).optional(),
});

/** What `docker` accepts as DOCKER_HOST and @pulumi/docker as a provider's `host`. */
export const DOCKER_URL_RULE =
    "a Docker engine URL: ssh://admin@db1, tcp://10.0.0.11:2376 (with tls) or unix:///run/docker.sock";
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
/** An IPv4 address, or an IPv4 network in CIDR form (pgtopo:clients). */
const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/(3[0-2]|[12]?\d))?$/;

const PEM = (what: string) =>
    z
        .string({ error: `must be the PEM text of the ${what}` })
        .regex(/^-----BEGIN [A-Z0-9 ]+-----[\s\S]+-----END [A-Z0-9 ]+-----\s*$/, {
            error: `must be the PEM text of the ${what}`,
        });

/** One Docker host (pgtopo:hosts). */
const hostSchema = z.strictObject({
    docker: z
        .string({ error: `must be ${DOCKER_URL_RULE}` })
        .regex(/^(ssh:\/\/[^\s'"]+|unix:\/\/\/[^\s'"]+|tcp:\/\/[A-Za-z0-9.-]+:\d{1,5})$/, {
            error: `must be ${DOCKER_URL_RULE}`,
        }),
    /**
     * For a tcp:// engine (required there: a plaintext Docker API is root on that host): the
     * CA that signed the engine's certificate and this machine's client certificate and key,
     * as PEM text. Set them as secrets (`pulumi config set --secret --path
     * 'pgtopo:hosts.db1.tls.key' < key.pem`); pgtopo hands them to the docker provider as
     * secrets and writes them, for its own docker CLI steps, readable by this user only.
     */
    tls: z
        .strictObject({
            ca: PEM("CA certificate that signed the engine's certificate"),
            cert: PEM("client certificate"),
            key: PEM("client private key"),
        })
        .optional(),
    address: z
        .string({ error: "must be the IPv4 address the other hosts reach this one on, such as 10.0.0.11" })
        .regex(IPV4, { error: "must be the IPv4 address the other hosts reach this one on, such as 10.0.0.11" }),
    /**
     * The user's word that this host is lost: pgtopo then never contacts it, which is what
     * lets a failover go ahead without fencing the nodes there (pgtopo cannot fence what it
     * cannot reach). Removed once the host is back: the next `up` fences and rejoins them.
     */
    gone: z.boolean({ error: "must be true or false" }).default(false),
});

/**
 * The stack configuration under the `pgtopo:` namespace, after parsing. Every key the
 * user may set is listed here; anything else is an error rather than silently ignored,
 * because a misspelt key (say `pgtopo:primay`) would otherwise change nothing at all.
 */
export const clusterConfigSchema = z.strictObject({
    postgresVersion: z
        .enum(SUPPORTED_POSTGRES_VERSIONS, {
            error: `must be one of ${SUPPORTED_POSTGRES_VERSIONS.map((v) => `"${v}" (Debian ${DEBIAN_RELEASE_OF[v]})`).join(", ")}, the majors Debian's archive ships`,
        })
        .default("15"),
    primary: z.string({ error: "is required: the name of the node that must be primary" }),
    nodes: z
        .array(nodeSchema, { error: "must be a list of nodes, each with a name and a port" })
        .min(1, { error: "must list at least one node" }),
    synchronous: z
        .strictObject({
            mode: z.enum(["any", "first"], { error: 'must be "any" (quorum) or "first" (priority)' }).default("any"),
            count: z
                .number({ error: "must be a whole number of standbys, at least 1" })
                .int({ error: "must be a whole number of standbys, at least 1" })
                .min(1, { error: "must be a whole number of standbys, at least 1" })
                .default(1),
            standbys: z
                .array(z.string({ error: "must be a node name" }), { error: "must be a list of standby names" })
                .min(1, { error: "must name at least one standby" }),
        })
        .optional(),
    parameters: z
        .record(
            z
                .string()
                .regex(PARAMETER_NAME, { error: "must be a PostgreSQL setting name such as work_mem" })
                .refine((name) => !(MANAGED_PARAMETERS as readonly string[]).includes(name), {
                    error: "is managed by pgtopo from the topology and cannot be set here",
                }),
            z.union([z.string(), z.number(), z.boolean()], { error: "must be a string, a number or a boolean" }),
            { error: "must be a map of PostgreSQL settings to values" },
        )
        .default({}),
    maxLagOnFailover: z
        .number({ error: "must be a whole number of bytes, 0 or more" })
        .int({ error: "must be a whole number of bytes, 0 or more" })
        .min(0, { error: "must be a whole number of bytes, 0 or more" })
        .default(1024 * 1024),
    deleteDataOnRemove: z.boolean({ error: "must be true or false" }).default(false),
    /**
     * Continuous WAL archiving and backups with pgBackRest, into a repository volume of the
     * stack. Off when absent; `{}` turns it on with the defaults.
     */
    backup: backupSchema.optional(),
    /**
     * TLS on every TCP connection to and between the nodes (replication, clones, pg_rewind,
     * clients on this machine), each verifying the server against the stack's own CA;
     * plaintext connections are refused. Off by default on one machine, where that traffic
     * never leaves the stack's Docker network and loopback.
     */
    tls: z.boolean({ error: "must be true or false" }).optional(),
    /**
     * The Docker hosts nodes run on, by name: how to reach each engine and the address the
     * other hosts reach it on. Absent: every node on the local engine, published on
     * 127.0.0.1. With hosts, every node names one, and TLS is on.
     */
    hosts: z
        .record(z.string().regex(NODE_NAME_PATTERN, { error: `must be ${NODE_NAME_RULE}` }), hostSchema, {
            error: "must be a map of host names to { docker, address }",
        })
        .optional(),
    /**
     * With pgtopo:hosts: the addresses (or IPv4 networks) applications connect from; each
     * gets a hostssl line in pg_hba for every user but the replication one. The cluster's
     * own hosts need no entry.
     */
    clients: z
        .array(
            z
                .string()
                .regex(IPV4_CIDR, { error: "must be an IPv4 address or network, such as 10.0.0.5 or 10.0.1.0/24" }),
            { error: "must be a list of IPv4 addresses or networks" },
        )
        .default([]),
    /** Bootstrap this stack's primary from another stack's backups, to a point in time. */
    restore: restoreSchema.optional(),
    /** Routers that follow the primary: an endpoint per listener. Off when absent. */
    endpoints: endpointsSchema.optional(),
    /** Default: defaultBaseImage(postgresVersion), filled in by parseClusterConfig. */
    baseImage: z
        .string({ error: "must be a Docker image reference" })
        .min(1, { error: "must be a Docker image reference" })
        .optional(),
});

export type ClusterConfig = Omit<z.infer<typeof clusterConfigSchema>, "tls"> & {
    readonly baseImage: string;
    /** Filled in by parseClusterConfig: on by default with pgtopo:hosts, off without. */
    readonly tls: boolean;
};
export type HostConfig = z.infer<typeof hostSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;
export type SynchronousConfig = NonNullable<ClusterConfig["synchronous"]>;
export type BackupConfig = z.infer<typeof backupSchema>;
export type S3RepositoryConfig = z.infer<typeof s3Schema>;
export type RestoreConfig = z.infer<typeof restoreSchema>;
export type EndpointsConfig = z.infer<typeof endpointsSchema>;

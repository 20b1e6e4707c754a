import { PGBACKREST_SERVER_PORT, REPOSITORY_NAME } from "../planning/repository-host";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { PATHS } from "../contract/image";
import type { PlannedNode } from "../planning/topology";
import {
    bootstrapCommand,
    bootstrapInNodeCommand,
    configureCommand,
    readyCommand,
    createSlotCommand,
    dropSlotCommand,
    removeNodeCommand,
    followCommand,
} from "./commands";
import type { Engine } from "./engine";
import { GENERATION_LABEL, NODE_LABEL, PROJECT_ROOT, STACK_LABEL, type StackNames } from "../contract/names";

export interface PostgresNodeArgs {
    readonly stack: string;
    readonly names: StackNames;
    readonly node: PlannedNode;
    readonly networkName: string;
    /**
     * The engine it runs on (components/engine.ts): its provider, the network the one-shot
     * containers and the server attach to, the image there, the TLS volume.
     */
    readonly engine: Engine;
    /** Tag of the node image, used by the one-shot bootstrap container. */
    readonly imageName: pulumi.Input<string>;
    /** pgtopo:hosts: every host's address, each let in by pg_hba (replication, pg_rewind). */
    readonly peerAddresses: readonly string[];
    /** pgtopo:clients: where applications connect from. */
    readonly clientAddresses: readonly string[];
    /** pgtopo:hosts: done once every host's TLS volume holds the stack's CA. */
    readonly sharedCa?: pulumi.Resource;
    readonly superuserPassword: pulumi.Input<string>;
    readonly replicationPassword: pulumi.Input<string>;
    /** pgtopo.conf for every node (planning/settings.ts). */
    readonly settings: string;
    /**
     * Keep the volume when this node is removed from the config (it is removed with the
     * rest of the stack on destroy); deleteDataOnRemove turns this off.
     */
    readonly retainDataOnRemove: boolean;
    /** The node this one streams from; required for a standby. */
    readonly upstream?: PostgresNode;
    /**
     * A major upgrade's step (components/upgrade.ts): the container's replacement by the new
     * major's image waits for it, so the old container is there while it runs.
     */
    readonly upgradeStep?: pulumi.Resource;
    /** Settled once the cluster's converge step is declared: what a standby's follow step waits for. */
    readonly rolesSettled: Promise<RolesSettled>;
    /**
     * What the program found of the node before this `up` (ops/survey.ts); absent (unit
     * tests under mocks): taken as existing, with no generation label, the safe way.
     */
    readonly found?: {
        /** The container's generation label (planning/generation.ts); a new one recreates it. */
        readonly generation?: string;
        /** Its container or volume existed. */
        readonly existed: boolean;
        /** Its container was removed behind pgtopo's back (its volume is there): recreated by this `up`. */
        readonly recreated: boolean;
    };
    /**
     * pgtopo:restore, for the primary of a new stack: the other stack's repository volume
     * and the target, which its bootstrap restores from instead of running initdb.
     */
    readonly restore?: {
        /** The source's repository volume; none when it is in pgtopo:backup.s3's object store. */
        readonly sourceVolume?: string;
        readonly environment: Record<string, string>;
        /** The object store's keys (secret in state; forwarded by name, never on a command line). */
        readonly secrets: Record<string, pulumi.Output<string>>;
        /**
         * pgtopo:backup.repositoryHost: the source is read through this stack's repository
         * server (its container mounts the source's volume), once that container runs;
         * across hosts, at its host's address.
         */
        readonly throughRepositoryHost?: {
            readonly container: pulumi.Resource;
            readonly address?: string;
        };
    };
    /**
     * With pgtopo:backup on: the repository volume every node mounts (none with
     * pgtopo:backup.s3), and pgBackRest's environment, its secrets apart.
     */
    readonly backup?: {
        readonly volumeName?: pulumi.Input<string>;
        readonly environment: Record<string, string>;
        /** The object store's keys: in the container's environment only, secret in state. */
        readonly secrets: Record<string, pulumi.Output<string>>;
        /** pgtopo:backup.standbysFrom: where a new standby's first copy comes from. */
        readonly standbysFrom: "upstream" | "repository";
        /**
         * Across hosts: where this node's pgBackRest server is published on its host, for the
         * repository host (pgtopo:backup.repositoryHost) or for a backup taken on a primary on
         * another host (pgtopo:backup.s3, planning/backup-servers.ts).
         */
        readonly serverPort?: number;
        /** pgtopo:backup.repositoryHost across hosts: its host's address (the nodes reach it by name). */
        readonly repositoryAddress?: string;
        /** pgtopo:backup.repositoryHost: its container, which a standby restored from the repository waits for. */
        readonly repository?: pulumi.Resource;
        /**
         * pgtopo:backup.repositoryHost: its removal step. The node's removal depends on it, so
         * that a destroy stops the node while the repository still takes its last WAL
         * (PostgreSQL's archiver would otherwise retry for a minute at shutdown).
         */
        readonly repositoryRemoval?: pulumi.Resource;
    };
    /** pgtopo:tls: every TCP connection to and between nodes encrypted and verified. */
    readonly tls: boolean;
}

/** The cluster's converge step, and whether this `up` makes the cluster anew (nothing to re-point then). */
export interface RolesSettled {
    readonly converge: pulumi.Resource;
    readonly newCluster: boolean;
}

/**
 * One PostgreSQL server: its data volume, the container that runs it and the one-time
 * bootstrap of that volume (initdb for the primary; slot on the upstream and
 * pg_basebackup for a standby). The container starts first and waits for its data
 * directory (pgtopo-run); the bootstrap runs in it, so a standby's container is up
 * while its upstream is still being made, and only the copy itself waits for the
 * upstream. The node is reported ready only once PostgreSQL accepts connections, so a
 * standby of this node can be cloned from it straight away.
 */
export class PostgresNode extends pulumi.ComponentResource {
    readonly name: string;
    readonly containerName: string;
    /** How the other nodes reach it (PlannedNode.endpoint). */
    readonly endpoint: string;
    /** The engine it runs on: Commands acting on it take its `commandEnv`. */
    readonly engine: Engine;
    readonly container: docker.Container;
    /**
     * Done once PostgreSQL in the container accepts connections and the bootstrap of this
     * `up`, if any, is done: what everything that needs the server depends on.
     */
    readonly ready: pulumi.Resource[];
    /**
     * What a step that uses or changes this node waits for besides `ready`: its settings
     * step, which may restart it, when the node existed before this `up`. A node this `up`
     * bootstraps starts with its settings already written, so that step finds nothing to
     * do and nothing waits for it: a new cluster's cold `up` pays nothing for the order.
     */
    readonly settled: pulumi.Resource[];

    constructor(name: string, args: PostgresNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:Node", name, {}, opts);
        const { node, names } = args;
        this.name = node.name;
        this.containerName = names.container(node.name);
        this.endpoint = node.endpoint;
        const { engine } = args;
        this.engine = engine;
        const tlsVolumeName = engine.tlsVolumeName;
        const labels = [
            { label: STACK_LABEL, value: args.stack },
            { label: NODE_LABEL, value: node.name },
        ];
        const generation = args.found?.generation;
        const containerLabels = generation ? [...labels, { label: GENERATION_LABEL, value: generation }] : labels;

        // On a host marked gone (pgtopo:hosts.NAME.gone) nothing is done there: what exists
        // stays as the state says, and no bootstrap or re-point is declared (only its slot,
        // on its upstream's host, which keeps the WAL it needs to rejoin later).
        const gone = node.gone === true;
        const frozen = gone ? { ignoreChanges: ["*"] } : {};

        // The node's removal is pgtopo's own step, not the docker provider's delete: its
        // container stopped cleanly and removed by name (and its volume, with
        // deleteDataOnRemove), when the node leaves the config or the stack is destroyed.
        // The provider's delete fails on a container that was removed by hand, and cannot
        // run on a host marked gone; this step tolerates the first and leaves the second
        // alone, saying so (scripts/remove-node.sh, scripts/unless-gone.sh). The container
        // and volume are `deletedWith` it, so the provider skips them whenever this goes.
        // A new generation (a container recreated after drift) replaces it too: the old
        // step's delete then finds a container of another generation and leaves it be,
        // while the provider skips the delete of the vanished one.
        const removal = new command.local.Command(
            `${name}-removal`,
            {
                // Nothing to do on create: the container is made by the docker provider.
                delete: removeNodeCommand(
                    this.containerName,
                    generation,
                    args.retainDataOnRemove ? undefined : names.volume(node.name),
                ),
                dir: PROJECT_ROOT,
                triggers: [generation ?? ""],
                ...engine.commandEnv,
            },
            {
                parent: this,
                dependsOn: [engine.janitor, ...(args.backup?.repositoryRemoval ? [args.backup.repositoryRemoval] : [])],
                ...frozen,
            },
        );
        const volume = new docker.Volume(
            `${name}-data`,
            { name: names.volume(node.name), labels },
            {
                parent: this,
                provider: engine.provider,
                retainOnDelete: args.retainDataOnRemove,
                dependsOn: [engine.janitor],
                deletedWith: removal,
                ...frozen,
            },
        );

        // A new stack restored from another's backups: the restore runs in a one-shot
        // container before this node's starts, since it mounts the other stack's repository.
        const restored = args.restore && !gone ? this.restorePrimary(name, args, volume) : undefined;

        this.container = new docker.Container(
            `${name}-server`,
            {
                name: this.containerName,
                hostname: node.name,
                image: engine.imageId,
                envs: [
                    `PGTOPO_NODE=${node.name}`,
                    pulumi.interpolate`PGTOPO_REPLICATION_PASSWORD=${args.replicationPassword}`,
                    ...Object.entries(args.backup?.environment ?? {}).map(([key, value]) => `${key}=${value}`),
                    ...Object.entries(args.backup?.secrets ?? {}).map(
                        ([key, value]) => pulumi.interpolate`${key}=${value}`,
                    ),
                    ...(args.tls ? ["PGTOPO_TLS=on"] : []),
                    // Across hosts: its certificate names its host's address; pg_hba lets
                    // in the cluster's hosts and pgtopo:clients (pgtopo-run, write_hba).
                    ...(node.host
                        ? [
                              `PGTOPO_ADDRESS=${node.address}`,
                              `PGTOPO_PEER_ADDRESSES=${args.peerAddresses.join(" ")}`,
                              `PGTOPO_CLIENT_ADDRESSES=${args.clientAddresses.join(" ")}`,
                          ]
                        : []),
                ],
                labels: containerLabels,
                networksAdvanced: [{ name: args.networkName, aliases: [node.name] }],
                // Published on loopback only on one machine: the cluster is reachable from
                // it, never from the network it sits on. Across hosts, on the host's address,
                // where pg_hba admits only the cluster's hosts and pgtopo:clients, over TLS.
                ports: [
                    { internal: 5432, external: node.port, ip: node.address },
                    // Across hosts: pgBackRest's server, for the repository host or a primary
                    // elsewhere (a client certificate of the stack's CA or nothing).
                    ...(args.backup?.serverPort
                        ? [{ internal: PGBACKREST_SERVER_PORT, external: args.backup.serverPort, ip: node.address }]
                        : []),
                ],
                // (Absent, not empty, otherwise: a change of it replaces the container.)
                ...(args.backup?.repositoryAddress
                    ? { hosts: [{ host: REPOSITORY_NAME, ip: args.backup.repositoryAddress }] }
                    : {}),
                volumes: [
                    { volumeName: volume.name, containerPath: PATHS.volume },
                    ...(args.backup?.volumeName
                        ? [{ volumeName: args.backup.volumeName, containerPath: PATHS.repository }]
                        : []),
                    ...(tlsVolumeName ? [{ volumeName: tlsVolumeName, containerPath: PATHS.tls }] : []),
                ],
                restart: "unless-stopped",
                init: true,
                shmSize: 256,
                // A clean shutdown (checkpoint, WAL sent to standbys) before Docker kills it.
                destroyGraceSeconds: 60,
                healthcheck: {
                    // As postgres over the socket (peer): a check as root would be refused,
                    // and PostgreSQL would log that refusal every second.
                    tests: [
                        "CMD",
                        "setpriv",
                        "--reuid=postgres",
                        "--regid=postgres",
                        "--clear-groups",
                        "pg_isready",
                        "-q",
                        "-h",
                        PATHS.socketDir,
                        "-U",
                        "postgres",
                        "-d",
                        "postgres",
                    ],
                    // For `docker ps` and operators; pgtopo itself waits through the
                    // `-ready` command below, which notices readiness within 0.1 s.
                    interval: "5s",
                    timeout: "5s",
                    // Written as Go formats durations, so that the provider reads back the same text.
                    startPeriod: "2m0s",
                    retries: 3,
                },
            },
            {
                parent: this,
                provider: engine.provider,
                // Upstream first: containers created all at once slow each other down (two
                // cores here: 0.8 s each instead of 0.4), and the primary's is the one the
                // whole cluster waits for; a standby's is made while its upstream bootstraps.
                // (An ordering only: replacing one container never replaces the other.)
                dependsOn: [
                    volume,
                    ...(args.upstream ? [args.upstream.container] : []),
                    ...(restored ? [restored] : []),
                    engine.networkReady,
                    ...engine.imageReady,
                    ...(args.sharedCa ? [args.sharedCa] : []),
                    ...(args.upgradeStep ? [args.upgradeStep] : []),
                ],
                ...frozen,
                additionalSecretOutputs: ["envs"],
                deletedWith: removal,
                // The container has a fixed name, so a replacement (new image, new port)
                // must remove the old one first. The data stays in the volume. A container
                // recreated after it was removed by hand is the exception: its name is free,
                // and the new one is made first, so that the provider's delete of the one
                // that vanished comes at the end of the `up`, beside the removal step's
                // replacement, and is skipped (deletedWith).
                deleteBeforeReplace: !args.found?.recreated,
            },
        );
        const standby = node.role === "standby" ? this.cloneStandby(name, args, gone) : undefined;
        const bootstrap = gone ? undefined : (standby?.clone ?? restored ?? this.initializePrimary(name, args));
        // Everything that needs the server waits on this, not on the container: it runs
        // again whenever the container is replaced (a new ID). It waits beside the bootstrap
        // rather than after it, so a standby's clone starts the moment its upstream's server
        // does (the bootstrap marks a failure, which ends the wait). Beside it only: it
        // starts once the upstream is ready, as the bootstrap does, so that it never waits
        // for a bootstrap that a failure elsewhere kept from starting.
        const readyGate = new command.local.Command(
            `${name}-ready`,
            {
                create: readyCommand(this.containerName),
                dir: PROJECT_ROOT,
                triggers: [this.container.id],
                ...engine.commandEnv,
            },
            {
                parent: this,
                dependsOn: [this.container, ...(args.upstream?.ready ?? []), ...(args.upstream?.settled ?? [])],
                ...frozen,
            },
        );
        this.ready = [readyGate, ...(bootstrap ? [bootstrap] : [])];
        const configured = new command.local.Command(
            `${name}-settings`,
            {
                create: configureCommand(this.containerName),
                dir: PROJECT_ROOT,
                environment: { PGTOPO_SETTINGS: args.settings, ...engine.env },
            },
            { parent: this, dependsOn: this.ready, ...frozen },
        );
        this.settled = (args.found?.existed ?? true) ? [configured] : [];
        this.settingsReport = configured.stdout;

        // A standby is (re-)pointed at its upstream once the cluster's converge step has
        // settled who is primary: a node that was primary a moment ago cannot follow anyone
        // until it has been fenced and made a standby. In a new cluster nothing is
        // re-pointed (the settings step finds what the bootstrap wrote, the clone made the
        // slot), so the follow check runs beside the settings and slot steps; a re-point
        // needs its new slot first.
        const follow =
            standby && !gone
                ? this.follow(
                      name,
                      args,
                      args.rolesSettled.then(({ converge, newCluster }) =>
                          newCluster ? this.ready : [configured, converge, standby.slot],
                      ),
                  )
                : undefined;
        this.finished = follow && standby ? [follow, configured, standby.slot] : [configured];
        this.registerOutputs({ containerName: this.containerName });
    }

    /** What the last settings change did on this node: reloaded, or restarted and why. */
    readonly settingsReport: pulumi.Output<string>;
    /** Done once the node is as configured: its settings applied and, for a standby, following its upstream. */
    readonly finished: pulumi.Resource[];

    /**
     * Keeps a standby pointed at its planned upstream. On the first `up` the clone
     * already did that and this only confirms it streams; when the upstream changes in
     * the config, this re-points it with a reload, no restart and no new clone.
     */
    private follow(name: string, args: PostgresNodeArgs, after: Promise<pulumi.Resource[]>): command.local.Command {
        return new command.local.Command(
            `${name}-follow`,
            {
                create: followCommand(this.containerName, args.upstream!.endpoint, args.node.slot!),
                ...this.engine.commandEnv,
            },
            { parent: this, dependsOn: after },
        );
    }

    /** initdb in the node's container, which waits for it (pgtopo-init, run once per volume). */
    private initializePrimary(name: string, args: PostgresNodeArgs): command.local.Command {
        return new command.local.Command(
            `${name}-bootstrap`,
            {
                create: bootstrapInNodeCommand({
                    script: "pgtopo-init",
                    containerName: this.containerName,
                    forwardEnv: ["PGTOPO_SUPERUSER_PASSWORD", "PGTOPO_REPLICATION_PASSWORD", "PGTOPO_SETTINGS"],
                }),
                environment: {
                    ...args.engine.env,
                    PGTOPO_SUPERUSER_PASSWORD: args.superuserPassword,
                    PGTOPO_REPLICATION_PASSWORD: args.replicationPassword,
                    PGTOPO_SETTINGS: args.settings,
                },
            },
            { parent: this, dependsOn: [this.container], ...onceForTheVolume(name) },
        );
    }

    /**
     * pgtopo:restore: the new stack's primary restored from another stack's repository,
     * in a one-shot container that mounts that repository read-only (or reads it from the
     * object store, or through this stack's repository host), before the node's own
     * container exists (pgtopo-restore, run once per volume).
     */
    private restorePrimary(name: string, args: PostgresNodeArgs, volume: docker.Volume): command.local.Command {
        const { names, node } = args;
        const restore = args.restore!;
        const via = restore.throughRepositoryHost;
        return new command.local.Command(
            `${name}-bootstrap`,
            {
                create: bootstrapCommand({
                    script: "pgtopo-restore",
                    containerName: names.bootstrapContainer(node.name),
                    network: names.network,
                    volume: names.volume(node.name),
                    image: "$PGTOPO_IMAGE",
                    stackLabel: `${STACK_LABEL}=${args.stack}`,
                    forwardEnv: [
                        "PGTOPO_NODE",
                        "PGTOPO_SUPERUSER_PASSWORD",
                        "PGTOPO_REPLICATION_PASSWORD",
                        "PGTOPO_SETTINGS",
                        ...Object.keys(restore.environment),
                        ...Object.keys(restore.secrets),
                    ],
                    mounts: [
                        ...(restore.sourceVolume ? [`${restore.sourceVolume}:${PATHS.restoreSource}:ro`] : []),
                        // The client certificate for the repository's server (pgtopo-tls --client).
                        ...(via ? [`${names.tlsVolume}:${PATHS.tls}`] : []),
                    ],
                    hosts: via?.address ? [`${REPOSITORY_NAME}:${via.address}`] : [],
                }),
                environment: {
                    ...args.engine.env,
                    PGTOPO_IMAGE: args.imageName,
                    PGTOPO_NODE: node.name,
                    PGTOPO_SUPERUSER_PASSWORD: args.superuserPassword,
                    PGTOPO_REPLICATION_PASSWORD: args.replicationPassword,
                    PGTOPO_SETTINGS: args.settings,
                    ...restore.environment,
                    ...restore.secrets,
                },
            },
            {
                parent: this,
                dependsOn: [
                    volume,
                    args.engine.networkReady,
                    ...args.engine.imageReady,
                    ...(via ? [via.container] : []),
                    ...(args.sharedCa ? [args.sharedCa] : []),
                ],
                ...onceForTheVolume(name),
            },
        );
    }

    private cloneStandby(
        name: string,
        args: PostgresNodeArgs,
        gone: boolean,
    ): { slot: command.local.Command; clone?: command.local.Command } {
        const { node, upstream } = args;
        if (!upstream || !node.upstream || !node.slot) {
            throw new pulumi.ResourceError(`standby ${node.name} has no upstream node to clone from`, this);
        }
        // standbysFrom "repository": the clone reads the newest backup from the repository
        // and pgBackRest's settings, instead of the upstream's files.
        const fromRepository = args.backup?.standbysFrom === "repository" ? args.backup : undefined;
        const repositoryEnv = Object.fromEntries(
            Object.entries(fromRepository?.environment ?? {}).filter(([key]) => key.startsWith("PGBACKREST_")),
        );
        // In the standby's own container, which waits for it: the repository and the TLS
        // volume (the CA, to verify the upstream it copies from) are mounted there already.
        // The clone makes the standby's slot on the upstream first, as `pg_basebackup -C`
        // does in the tutorials, over its replication connection: no step of its own
        // between the upstream being ready and the copy.
        const clone = gone
            ? undefined
            : new command.local.Command(
                  `${name}-bootstrap`,
                  {
                      create: bootstrapInNodeCommand({
                          script: "pgtopo-clone",
                          containerName: this.containerName,
                          forwardEnv: [
                              "PGTOPO_UPSTREAM",
                              "PGTOPO_SLOT",
                              "PGTOPO_REPLICATION_PASSWORD",
                              ...(fromRepository ? ["PGTOPO_CLONE_FROM", ...Object.keys(repositoryEnv)] : []),
                          ],
                      }),
                      environment: {
                          ...args.engine.env,
                          PGTOPO_UPSTREAM: upstream.endpoint,
                          PGTOPO_SLOT: node.slot,
                          PGTOPO_REPLICATION_PASSWORD: args.replicationPassword,
                          ...(fromRepository ? { PGTOPO_CLONE_FROM: "repository", ...repositoryEnv } : {}),
                      },
                  },
                  {
                      parent: this,
                      dependsOn: [
                          this.container,
                          ...upstream.ready,
                          ...upstream.settled,
                          // (Replaced in this same `up` when this node is new: it lists the nodes.)
                          ...(fromRepository?.repository ? [fromRepository.repository] : []),
                      ],
                      ...onceForTheVolume(name),
                  },
              );
        // The slot as a resource of its own: made (if the clone has not) whenever the
        // upstream changes, and dropped when the standby goes. A new upstream replaces it:
        // the new one is made first, the standby is re-pointed (follow), and the old one is
        // dropped last, once nothing uses it.
        const slot = new command.local.Command(
            `${name}-slot`,
            {
                create: createSlotCommand(upstream.containerName, node.slot),
                delete: dropSlotCommand(upstream.containerName, node.slot),
                dir: PROJECT_ROOT,
                triggers: [node.upstream],
                // On the upstream's engine.
                ...upstream.engine.commandEnv,
            },
            {
                parent: this,
                dependsOn: [...upstream.ready, ...upstream.settled, ...(clone ? [clone] : [])],
            },
        );
        return { slot, clone };
    }
}

/**
 * A node's bootstrap (initdb, restore or clone) runs once for the life of its volume: one
 * resource whatever the node's role, so that a primary that becomes a standby (or the
 * reverse) keeps the bootstrap it had and never runs another; later config changes reach
 * the node through the settings and follow commands. (Its names before: -initdb, -clone.)
 */
function onceForTheVolume(name: string): pulumi.CustomResourceOptions {
    return {
        ignoreChanges: ["create", "environment"],
        aliases: [{ name: `${name}-initdb` }, { name: `${name}-clone` }],
    };
}

import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { BackupConfig } from "../config/schema";
import { PATHS } from "../contract/image";
import { BACKUPS_LABEL, GENERATION_LABEL, PROJECT_ROOT, STACK_LABEL, type StackNames } from "../contract/names";
import type { RepositoryHostFound } from "../preflight/survey";
import { removeNodeCommand } from "./commands";
import { PGBACKREST_SERVER_PORT, REPOSITORY_NAME, repositoryHostEnvironment } from "../planning/repository-host";
import type { Engine } from "./engine";

export interface RepositoryHostArgs {
    readonly stack: string;
    readonly names: StackNames;
    readonly backup: BackupConfig;
    /** The engine it runs on: the local one, or pgtopo:backup.repositoryHost.host's. */
    readonly engine: Engine;
    /** Across hosts: its host's address, where its server is published. */
    readonly address?: string;
    /** The port its server is reached on (published there across hosts). */
    readonly port: number;
    /** Every node that is not on a host marked gone, and across hosts its host's address. */
    readonly nodes: readonly { readonly name: string; readonly address?: string }[];
    /** What must be done before it starts: the stack's CA in its engine's TLS volume. */
    readonly after: pulumi.Input<pulumi.Resource>[];
    /**
     * pgtopo:restore: the source stack's repository volume on this engine, mounted
     * read-only where the new primary's restore asks its server to read (PATHS.restoreSource).
     */
    readonly restoreSourceVolume?: string;
    /** What the survey found of its container before this `up` (its generation); absent under mocks. */
    readonly found?: RepositoryHostFound;
}

/**
 * pgtopo:backup.repositoryHost: the repository volume and the container that serves it
 * (the node image, so pgBackRest's release is the nodes' own, as its protocol requires),
 * running pgBackRest's TLS server and, on the backup schedule, the backups (pgtopo-backup
 * there: pgBackRest reads a standby's files, or the primary's, through their servers).
 * The volume outlives the stack unless deleteBackupsOnDestroy says otherwise, as the
 * local volume kind's does.
 *
 * Removed the way a node or a router is: by pgtopo's own step, by name and generation
 * (scripts/remove-node.sh), so that a replacement (a node added changes its pg1..pgN)
 * removes the old container before the new one takes its name, and a container removed
 * by hand is recreated by the next plain `up` through a new generation label
 * (planning/generation.ts). One stopped by hand is started again.
 */
export class RepositoryHost extends pulumi.ComponentResource {
    readonly container: docker.Container;
    /** Its removal step: the nodes' removals depend on it, so that a destroy stops them first. */
    readonly removal: command.local.Command;
    readonly containerName: string;
    readonly engine: Engine;
    /** Across hosts: its host's address, where its server is published. */
    readonly address?: string;

    constructor(name: string, args: RepositoryHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:RepositoryHost", name, {}, opts);
        const { engine, names, backup } = args;
        this.engine = engine;
        this.address = args.address;
        this.containerName = names.repositoryContainer;
        const provider = { parent: this, provider: engine.provider, dependsOn: [engine.janitor] };
        const generation = args.found?.generation;
        const removal = (this.removal = new command.local.Command(
            `${name}-removal`,
            {
                delete: removeNodeCommand(this.containerName, generation),
                dir: PROJECT_ROOT,
                triggers: [generation ?? ""],
                ...engine.commandEnv,
            },
            { parent: this, dependsOn: [engine.janitor] },
        ));
        const volume = new docker.Volume(
            `${name}-backups`,
            { name: names.backupVolume, labels: [{ label: BACKUPS_LABEL, value: args.stack }] },
            { ...provider, retainOnDelete: !backup.deleteBackupsOnDestroy },
        );
        const environment = {
            ...repositoryHostEnvironment(
                backup,
                args.nodes.map((n) => n.name),
                args.port,
            ),
            PGTOPO_NODE: REPOSITORY_NAME,
            PGTOPO_BACKUP_SCHEDULE: backup.schedule,
            ...(args.address ? { PGTOPO_ADDRESS: args.address } : {}),
        };
        this.container = new docker.Container(
            `${name}-server`,
            {
                name: this.containerName,
                hostname: REPOSITORY_NAME,
                image: engine.imageId,
                entrypoints: ["pgtopo-repository"],
                envs: Object.entries(environment).map(([key, value]) => `${key}=${value}`),
                labels: [
                    { label: STACK_LABEL, value: args.stack },
                    ...(generation ? [{ label: GENERATION_LABEL, value: generation }] : []),
                ],
                networksAdvanced: [{ name: names.network, aliases: [REPOSITORY_NAME] }],
                // Across hosts: its server on its host's address, where the nodes reach it;
                // the nodes by name, at their hosts' addresses, as their certificates say.
                ports: args.address
                    ? [{ internal: PGBACKREST_SERVER_PORT, external: args.port, ip: args.address }]
                    : [],
                hosts: args.nodes.flatMap((n) => (n.address ? [{ host: n.name, ip: n.address }] : [])),
                volumes: [
                    { volumeName: volume.name, containerPath: PATHS.repository },
                    ...(engine.tlsVolumeName ? [{ volumeName: engine.tlsVolumeName, containerPath: PATHS.tls }] : []),
                    ...(args.restoreSourceVolume
                        ? [{ volumeName: args.restoreSourceVolume, containerPath: PATHS.restoreSource, readOnly: true }]
                        : []),
                ],
                restart: "unless-stopped",
                init: true,
                // pgBackRest's server and cron: it has nothing to flush.
                destroyGraceSeconds: 10,
            },
            {
                ...provider,
                dependsOn: [engine.janitor, engine.networkReady, ...engine.imageReady, ...[args.after].flat()],
                deletedWith: removal,
                // A fixed name: a replacement removes the old one first, except one removed by
                // hand, whose name is free (as for the nodes, components/node.ts).
                deleteBeforeReplace: !args.found?.recreated,
            },
        );
        // Stopped by hand (the survey saw it): started again, as a node's container would be.
        // Its trigger changes only then; otherwise it is ignored, so a plain `up` after the
        // repair changes nothing.
        const stopped = args.found?.stopped ?? false;
        new command.local.Command(
            `${name}-start`,
            {
                create: `docker start ${this.containerName} >/dev/null`,
                triggers: [stopped ? `stopped, seen at ${new Date().toISOString()}` : "running"],
                ...engine.commandEnv,
            },
            { parent: this, dependsOn: [this.container], ignoreChanges: stopped ? [] : ["triggers", "environment"] },
        );
        this.registerOutputs({});
    }
}

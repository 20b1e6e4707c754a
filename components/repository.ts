import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { BackupConfig } from "../config/schema";
import { PATHS } from "../contract/image";
import { BACKUPS_LABEL, STACK_LABEL, type StackNames } from "../contract/names";
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
}

/**
 * pgtopo:backup.repositoryHost: the repository volume and the container that serves it
 * (the node image, so pgBackRest's release is the nodes' own, as its protocol requires),
 * running pgBackRest's TLS server and, on the backup schedule, the backups (pgtopo-backup
 * there: pgBackRest reads a standby's files, or the primary's, through their servers).
 * The volume outlives the stack unless deleteBackupsOnDestroy says otherwise, as the
 * local volume kind's does.
 */
export class RepositoryHost extends pulumi.ComponentResource {
    readonly container: docker.Container;
    readonly containerName: string;
    readonly engine: Engine;
    /** Across hosts: its host's address, where its server is published. */
    readonly address?: string;

    constructor(name: string, args: RepositoryHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:RepositoryHost", name, {}, opts);
        const { engine, names, backup } = args;
        this.engine = engine;
        this.address = args.address;
        this.containerName = `${names.prefix}-${REPOSITORY_NAME}`;
        const provider = { parent: this, provider: engine.provider, dependsOn: [engine.janitor] };
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
                labels: [{ label: STACK_LABEL, value: args.stack }],
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
            { ...provider, dependsOn: [engine.janitor, engine.networkReady, ...engine.imageReady, ...[args.after].flat()] }, // prettier-ignore
        );
        this.registerOutputs({});
    }
}

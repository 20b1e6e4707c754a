import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig } from "../config/schema";
import { backupEnvironment, repositoryEnvironment, repositorySecrets } from "../planning/backup";
import { restoreEnvironment } from "../planning/restore";
import { renderSettings } from "../planning/settings";
import { nodesSummary, topologyMermaid, type TopologyPlan } from "../planning/topology";
import * as command from "@pulumi/command";
import { convergeRequest, type ConvergeRequest } from "../planning/convergence";
import { multiHostUrl, superuserUrl } from "../ops/observe";
import type { NodeFound, RepositoryHostFound } from "../preflight/survey";
import { caFileCommand, removeFileCommand, shareCaCommand } from "./commands";
import { declareEngine, type Engine } from "./engine";
import { NodeImage, RouterImage } from "./image";
import { PgTopoRouter } from "./router";
import { RepositoryHost } from "./repository";
import { planBackupServers } from "../planning/backup-servers";
import { remoteRepositoryEnvironment, serverPort } from "../planning/repository-host";
import { endpointUrl, LISTENERS, type Listener } from "../planning/routers";
import { BACKUPS_LABEL, PROJECT_ROOT, stackCaFile, stackNames } from "../contract/names";
import { PostgresNode, type RolesSettled } from "./node";
import { GeneratedPassword } from "./password";
import { MajorUpgrade } from "./upgrade";
import type { UpgradePlan } from "../planning/upgrade";

export interface PostgresClusterArgs {
    /** Stack name; prefixes every Docker object so stacks never collide. */
    readonly stack: string;
    readonly config: ClusterConfig;
    /** The validated topology (planning/topology.ts); the component only realizes it. */
    readonly plan: TopologyPlan;
    /**
     * Per node, what the survey found of it before this `up` (preflight/survey.ts): the
     * containers' generation labels, which nodes existed. Absent (unit tests under mocks):
     * every node taken as existing, none recreated.
     */
    readonly found?: Readonly<Record<string, NodeFound>>;
    /** Whether the base image was on the local engine when the program looked (index.ts asks). */
    readonly baseImagePresent?: Promise<boolean>;
    /** Per router (pgtopo:endpoints), what the survey found of it; absent under mocks. */
    readonly routersFound?: Readonly<Record<string, NodeFound>>;
    /** The repository host's container as the survey found it (absent under mocks). */
    readonly repositoryHostFound?: RepositoryHostFound;
    /** A change of pgtopo:postgresVersion under running nodes, planned (planning/upgrade.ts). */
    readonly upgrade?: UpgradePlan;
}

/**
 * A primary and its standbys on one Docker network (or one per host). Nodes are created
 * upstream-first: each standby waits only for its own upstream, so independent branches
 * converge in parallel. The steps on the cluster as a whole (converge, report, first
 * backup) are a component of their own (components/convergence.ts), declared once the
 * survey says what converging takes.
 */
export class PostgresCluster extends pulumi.ComponentResource {
    readonly name: string;
    readonly stack: string;
    readonly config: ClusterConfig;
    /** What the converge step is handed (planning/convergence.ts). */
    readonly request: ConvergeRequest;
    /** The nodes, in the order of the planned tree. */
    readonly members: readonly PostgresNode[];
    readonly superuserPassword: pulumi.Output<string>;
    readonly replicationPassword: pulumi.Output<string>;
    /** pgtopo:endpoints: the routers, and the password of the role they look clients up as. */
    readonly routers: readonly PgTopoRouter[];
    /** pgtopo:backup.repositoryHost: the repository's container, where backups run. */
    readonly repositoryHost?: RepositoryHost;
    readonly routerPassword?: pulumi.Output<string>;
    /**
     * Settled by the cluster's converge step once it is declared (ClusterConvergence): what
     * each standby's follow step waits for.
     */
    readonly rolesSettled: { readonly promise: Promise<RolesSettled>; resolve(value: RolesSettled): void };

    readonly primary: string;
    readonly nodes: ReturnType<typeof nodesSummary>;
    readonly topology: string;
    readonly connectionStrings: pulumi.Output<Record<string, string>>;
    /** Every node in one libpq multi-host URI that keeps the primary (target_session_attrs=read-write); a secret. */
    readonly multiHostUrl: pulumi.Output<string>;
    /** pgtopo:endpoints: each listener's connection URI, through every router (a secret). */
    readonly endpoints?: pulumi.Output<Partial<Record<Listener, string>>>;
    /** Per node, what applying the settings did (reload, or restart and for which settings). */
    readonly settingsApplied: pulumi.Output<Record<string, string>>;

    constructor(name: string, args: PostgresClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:Cluster", name, {}, opts);
        const { config, plan, stack } = args;
        const names = stackNames(stack);
        this.name = name;
        this.stack = stack;
        this.config = config;
        this.request = convergeRequest(stack, config, plan);
        let resolve: (value: RolesSettled) => void = () => undefined;
        this.rolesSettled = { promise: new Promise((r) => (resolve = r)), resolve: (value) => resolve(value) };

        const image = new NodeImage(
            `${name}-image`,
            {
                imageName: names.image(config.postgresVersion),
                postgresVersion: config.postgresVersion,
                baseImage: config.baseImage,
                baseImagePresent: args.baseImagePresent,
            },
            { parent: this },
        );
        // The engines the nodes run on: the local one, or one per host of pgtopo:hosts.
        const engineArgs = {
            stack,
            names,
            withTlsVolume: config.tls || config.backup !== undefined,
            image: { name: image.imageName, id: image.imageId, built: image },
        };
        const engines = new Map<string | undefined, Engine>(
            config.hosts
                ? Object.entries(config.hosts)
                      .sort(([a], [b]) => (a < b ? -1 : 1))
                      .map(([host, { docker, gone, tls }]) => [
                          host,
                          declareEngine(this, {
                              ...engineArgs,
                              resourcePrefix: `${name}-${host}`,
                              host: { name: host, docker, gone, tls },
                          }),
                      ])
                : [[undefined, declareEngine(this, { ...engineArgs, resourcePrefix: name })]],
        );
        // Across hosts, one CA in every host's TLS volume before any node starts (a node
        // that found none would make its own, which the others would not trust).
        // (A host marked gone is left out: it gets the CA again once it is back.)
        const liveEngines = [...engines.values()].filter((e) => !e.gone);
        const sharedCa = config.hosts
            ? new command.local.Command(
                  `${name}-ca`,
                  {
                      create: pulumi
                          .all([image.imageName, ...liveEngines.map((e) => e.tlsVolumeName!)])
                          .apply(([imageName, volume]) =>
                              shareCaCommand(
                                  imageName,
                                  volume,
                                  liveEngines.map((e) => e.env.DOCKER_HOST),
                              ),
                          ),
                      dir: PROJECT_ROOT,
                  },
                  { parent: this, dependsOn: liveEngines.flatMap((e) => e.imageReady) },
              )
            : undefined;
        const peerAddresses = Object.values(config.hosts ?? {}).map((h) => h.address);

        const superuserPassword = new GeneratedPassword(`${name}-superuser-password`, { parent: this });
        const replicationPassword = new GeneratedPassword(`${name}-replication-password`, { parent: this });

        // The backup repository: on one machine by default, a volume of its own, mounted by
        // every node, that outlives the stack's destroy unless the config says otherwise;
        // with pgtopo:backup.s3, a prefix in the bucket (planning/backup.ts), and no volume.
        const repositoryHost = config.backup?.repositoryHost;
        const backup = config.backup
            ? {
                  volumeName:
                      config.backup.s3 || config.backup.repositoryHost
                          ? undefined
                          : new docker.Volume(
                                `${name}-backups`,
                                { name: names.backupVolume, labels: [{ label: BACKUPS_LABEL, value: stack }] },
                                { parent: this, retainOnDelete: !config.backup.deleteBackupsOnDestroy },
                            ).name,
                  environment: {
                      ...backupEnvironment(config.backup, stack, config.hosts !== undefined),
                      PGTOPO_BACKUP_SCHEDULE: config.backup.schedule,
                  },
                  secrets: asSecrets(repositorySecrets(config.backup)),
                  standbysFrom: config.backup.standbysFrom,
                  // pgtopo:backup.repositoryHost across hosts: each node's pgBackRest server
                  // published on its host for the repository host, which nodes reach by name.
                  ...(config.hosts && repositoryHost
                      ? {
                            serverPort: repositoryHost.port,
                            repositoryAddress: config.hosts[repositoryHost.host!].address,
                        }
                      : {}),
              }
            : undefined;

        // A major upgrade: its step runs before any node container is replaced by the new
        // major's image (each one depends on it; the repository host's too, whose pgBackRest
        // must stay the nodes' release while they run), on the primary's engine.
        const primaryEngine = engines.get(plan.nodes.find((n) => n.name === plan.primary)!.host)!;
        const upgrade = args.upgrade
            ? new MajorUpgrade(
                  `${name}-upgrade`,
                  {
                      stack,
                      names,
                      plan: args.upgrade,
                      nodes: plan.nodes,
                      engine: primaryEngine,
                      after: primaryEngine.imageReady,
                      superuserPassword: superuserPassword.value,
                  },
                  { parent: this },
              )
            : undefined;
        // pgtopo:backup.repositoryHost: the repository's own container (with hosts, on the host
        // the config names, once that host holds the stack's CA). Before the nodes: a
        // restore's one-shot reads the source through it.
        if (repositoryHost) {
            const engine = engines.get(repositoryHost.host)!;
            this.repositoryHost = new RepositoryHost(
                `${name}-repository`,
                {
                    stack,
                    names,
                    backup: config.backup!,
                    engine,
                    address: repositoryHost.host ? config.hosts![repositoryHost.host].address : undefined,
                    port: serverPort(config),
                    nodes: plan.nodes.filter((n) => !n.gone).map((n) => ({ name: n.name, address: n.address && config.hosts ? n.address : undefined })), // prettier-ignore
                    after: [...(sharedCa ? [sharedCa] : []), ...(upgrade ? [upgrade.step] : [])],
                    restoreSourceVolume: config.restore ? stackNames(config.restore.fromStack).backupVolume : undefined,
                    found: args.repositoryHostFound,
                },
                { parent: this },
            );
        }

        this.superuserPassword = superuserPassword.value;
        this.replicationPassword = replicationPassword.value;
        const settings = renderSettings(config, plan);
        // pgtopo:backup.s3 across hosts: the nodes whose pgBackRest server is published on
        // their host, for a backup on a primary elsewhere to read them (pgtopo.backup_servers).
        const backupServers = planBackupServers(config);
        const created = new Map<string, PostgresNode>();
        for (const node of plan.nodes) {
            const engine = engines.get(node.host)!;
            const upstream = node.upstream ? created.get(node.upstream) : undefined;
            // A standby the upgrade cannot link gets a new base backup first (on the new
            // major, from its upstream), and its container waits for that instead.
            const upgradeStep =
                upgrade && upstream && args.upgrade!.recloned.includes(node.name)
                    ? upgrade.reclone(node, upstream, engine, image.imageName, replicationPassword.value)
                    : upgrade?.step;
            created.set(
                node.name,
                new PostgresNode(
                    `${name}-${node.name}`,
                    {
                        stack,
                        names,
                        node,
                        networkName: names.network,
                        engine,
                        imageName: image.imageName,
                        peerAddresses,
                        clientAddresses: config.clients,
                        sharedCa,
                        superuserPassword: superuserPassword.value,
                        replicationPassword: replicationPassword.value,
                        settings,
                        retainDataOnRemove: !config.deleteDataOnRemove,
                        upstream,
                        found: args.found?.[node.name],
                        upgradeStep,
                        rolesSettled: this.rolesSettled.promise,
                        backup:
                            backup && this.repositoryHost
                                ? {
                                      ...backup,
                                      repository: this.repositoryHost.container,
                                      repositoryRemoval: this.repositoryHost.removal,
                                  }
                                : backup && backupServers?.published.has(node.name)
                                  ? { ...backup, serverPort: backupServers.published.get(node.name)!.port }
                                  : backup,
                        tls: config.tls,
                        restore:
                            config.restore && node.role === "primary"
                                ? restoreSource(config, this.repositoryHost)
                                : undefined,
                    },
                    { parent: this },
                ),
            );
        }

        // pgtopo:tls: the stack's CA onto this machine once the primary runs (it made the CA
        // if nothing had), for the connection strings' sslrootcert.
        const caFile = config.tls ? stackCaFile(stack) : undefined;
        if (caFile) {
            new command.local.Command(
                `${name}-ca-file`,
                {
                    create: caFileCommand(names.container(plan.primary), caFile),
                    delete: removeFileCommand(caFile),
                    ...created.get(plan.primary)!.engine.commandEnv,
                },
                { parent: this, dependsOn: created.get(plan.primary)!.ready },
            );
        }

        const nodes = [...created.values()];
        this.members = nodes;
        upgrade?.nodesReady(new Map(nodes.map((n) => [n.name, n.ready])));
        const upgradeFinished = upgrade?.finish(
            nodes.flatMap((n) => n.ready),
            new Map(nodes.map((n) => [n.name, n.engine])),
        );
        // With backups on, the repository follows: pgBackRest's stanza-upgrade and a new full
        // backup, where backups run (the repository host, or the primary).
        if (upgrade && upgradeFinished && config.backup) {
            const where = this.repositoryHost ?? created.get(plan.primary)!;
            upgrade.backup(where.containerName, where.engine.env, [
                upgradeFinished,
                ...(this.repositoryHost ? [this.repositoryHost.container] : []),
            ]);
        }

        // pgtopo:endpoints: a router on every engine, started once the primary runs (with
        // TLS it issues its certificate from the CA the primary made, or, across hosts,
        // once every host has the shared CA).
        const endpoints = config.endpoints;
        const routerPassword = endpoints
            ? new GeneratedPassword(`${name}-router-password`, { parent: this }).value
            : undefined;
        this.routerPassword = routerPassword;
        const routerImage = endpoints
            ? new RouterImage(`${name}-router-image`, { imageName: names.routerImage }, { parent: this })
            : undefined;
        const primaryReady = created.get(plan.primary)!.ready;
        this.routers = this.request.routers.map(
            (router) =>
                new PgTopoRouter(
                    `${name}-${router.name}`,
                    {
                        stack,
                        names,
                        router,
                        engine: engines.get(router.host)!,
                        image: { name: routerImage!.imageName, id: routerImage!.imageId, built: routerImage! },
                        endpoints: endpoints!,
                        password: routerPassword!,
                        tls: config.tls,
                        clientAddresses: config.clients,
                        found: args.routersFound?.[router.name],
                        after: sharedCa ? [sharedCa] : primaryReady,
                    },
                    { parent: this },
                ),
        );

        this.settingsApplied = pulumi
            .all(nodes.map((n) => n.settingsReport.apply((report) => [n.name, report.trim()] as const)))
            .apply((entries) => Object.fromEntries(entries));

        this.primary = plan.primary;
        this.nodes = nodesSummary(plan);
        this.topology = topologyMermaid(plan);
        this.connectionStrings = pulumi.secret(
            pulumi
                .all([superuserPassword.value])
                .apply(([password]) =>
                    Object.fromEntries(
                        plan.nodes.map((n) => [n.name, superuserUrl(password, n.port, caFile, n.address)]),
                    ),
                ),
        );
        this.multiHostUrl = pulumi.secret(
            superuserPassword.value.apply((password) =>
                multiHostUrl(
                    password,
                    plan.nodes.filter((n) => !n.gone),
                    caFile,
                ),
            ),
        );
        if (endpoints) {
            const routers = this.request.routers;
            this.endpoints = pulumi.secret(
                superuserPassword.value.apply((password) =>
                    Object.fromEntries(
                        LISTENERS.flatMap((listener) => {
                            const url = endpointUrl(routers, listener, { user: "postgres", password }, caFile);
                            return url ? [[listener, url]] : [];
                        }),
                    ),
                ),
            );
        }
        this.registerOutputs({
            primary: this.primary,
            nodes: this.nodes,
            topology: this.topology,
            connectionStrings: this.connectionStrings,
            settingsApplied: this.settingsApplied,
        });
    }
}

/**
 * An Output's value for code outside the resource graph (the survey), or undefined when it
 * is not known within a few seconds: in a preview of a stack whose password is not made
 * yet, it never will be, and the survey then asks the nodes in their containers instead.
 */
export function knownValue(output: pulumi.Output<string>, seconds = 3): Promise<string | undefined> {
    return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(undefined), seconds * 1000);
        output.apply((value) => {
            clearTimeout(timer);
            resolve(value);
            return value;
        });
    });
}

/**
 * Where pgtopo:restore reads from: the source stack's repository volume on this machine;
 * with pgtopo:backup.s3, the source's prefix in that same object store; with
 * pgtopo:backup.repositoryHost, the source's volume on the repository host's engine,
 * mounted in this stack's repository container and read through its server. The last two
 * let a stack on other hosts than its source, or whose source was destroyed, restore.
 */
function restoreSource(config: ClusterConfig, repositoryHost: RepositoryHost | undefined) {
    const { backup } = config;
    const restore = config.restore!;
    const environment = restoreEnvironment(restore);
    if (repositoryHost) {
        return {
            environment: { ...environment, ...remoteRepositoryEnvironment(serverPort(config)) },
            secrets: {},
            throughRepositoryHost: { container: repositoryHost.container, address: repositoryHost.address },
        };
    }
    if (!backup?.s3) {
        return { sourceVolume: stackNames(restore.fromStack).backupVolume, environment, secrets: {} };
    }
    return {
        environment: { ...environment, ...repositoryEnvironment(backup, restore.fromStack) },
        secrets: asSecrets(repositorySecrets(backup)),
    };
}

/** Values that must stay secret in state: each wrapped, so that what carries it is encrypted. */
function asSecrets(values: Record<string, string>): Record<string, pulumi.Output<string>> {
    return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, pulumi.secret(value)]));
}

import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig } from "../config/schema";
import { backupEnvironment } from "../planning/backup";
import { restoreEnvironment } from "../planning/restore";
import { renderSettings } from "../planning/settings";
import { nodesSummary, topologyMermaid, type TopologyPlan } from "../planning/topology";
import * as command from "@pulumi/command";
import { convergeRequest } from "../planning/convergence";
import { superuserUrl } from "../ops/observe";
import type { NodeFound, StackSurvey } from "../preflight/survey";
import { caFileCommand, firstBackupCommand, removeFileCommand, shareCaCommand } from "./commands";
import { declareEngine, type Engine } from "./engine";
import { NodeImage } from "./image";
import { BACKUPS_LABEL, PROJECT_ROOT, stackCaFile, stackNames } from "../contract/names";
import { PostgresNode } from "./node";
import { GeneratedPassword } from "./password";

export interface PostgresClusterArgs {
    /** Stack name; prefixes every Docker object so stacks never collide. */
    readonly stack: string;
    readonly config: ClusterConfig;
    /** The validated topology (planning/topology.ts); the component only realizes it. */
    readonly plan: TopologyPlan;
    /**
     * What runs now (ops/survey.ts): the containers' generation labels, and whether the
     * cluster drifted from the config, which makes the converge step run. A promise: what
     * does not depend on it is declared at once, so that the engine gets on with it while
     * the survey's queries run. Absent (unit tests under mocks): nothing drifted.
     */
    readonly survey?: StackSurvey;
    /** Per node, what the survey found of it before this `up` (ops/survey.ts, StackSurvey.found). */
    readonly found?: Readonly<Record<string, NodeFound>>;
    /** Whether the base image was on the local engine when the program looked (index.ts asks). */
    readonly baseImagePresent?: Promise<boolean>;
}

/**
 * A primary and its standbys on one Docker network. Nodes are created upstream-first:
 * each standby waits only for its own upstream, so independent branches converge in
 * parallel.
 */
export class PostgresCluster extends pulumi.ComponentResource {
    readonly primary: string;
    readonly nodes: ReturnType<typeof nodesSummary>;
    readonly topology: string;
    readonly connectionStrings: pulumi.Output<Record<string, string>>;
    /** Per node, what applying the settings did (reload, or restart and for which settings). */
    readonly settingsApplied: pulumi.Output<Record<string, string>>;
    /** Each node's timeline after the last change pgtopo made (a promotion starts a new one). */
    readonly timelines: pulumi.Output<Record<string, number | null>>;
    /** What the last run of the converge step did (change of primary, repairs), in plain words. */
    readonly lastTransition: pulumi.Output<string>;

    constructor(name: string, args: PostgresClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:Cluster", name, {}, opts);
        const { config, plan, stack } = args;
        const names = stackNames(stack);

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
            image: { name: image.imageName, id: image.imageId },
            imageBuilt: image,
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

        // The backup repository: a volume of its own, mounted by every node, that outlives
        // the stack's destroy unless the config says otherwise (planning/backup.ts).
        const backup = config.backup
            ? {
                  volumeName: new docker.Volume(
                      `${name}-backups`,
                      { name: names.backupVolume, labels: [{ label: BACKUPS_LABEL, value: stack }] },
                      { parent: this, retainOnDelete: !config.backup.deleteBackupsOnDestroy },
                  ).name,
                  environment: {
                      ...backupEnvironment(config.backup),
                      PGTOPO_BACKUP_SCHEDULE: config.backup.schedule,
                  },
                  standbysFrom: config.backup.standbysFrom,
              }
            : undefined;

        const settings = renderSettings(config, plan);
        const convergence = args.survey
            ? args.survey.convergence(() => knownValue(superuserPassword.value))
            : Promise.resolve(undefined);
        const created = new Map<string, PostgresNode>();
        for (const node of plan.nodes) {
            const engine = engines.get(node.host)!;
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
                        upstream: node.upstream ? created.get(node.upstream) : undefined,
                        found: args.found?.[node.name],
                        backup,
                        tls: config.tls,
                        restore:
                            config.restore && node.role === "primary"
                                ? {
                                      sourceVolume: stackNames(config.restore.fromStack).backupVolume,
                                      environment: restoreEnvironment(config.restore),
                                  }
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

        // The converge step (ops/converge.ts) settles who is primary, then makes every other
        // node a standby of its upstream, upstreams first: a no-op while the cluster is as
        // configured; a switchover or failover when pgtopo:primary names another node; a
        // repair when what runs drifted from the config. Declared once the survey is in,
        // since whether it must run is what the survey found.
        const nodes = [...created.values()];
        const request = convergeRequest(stack, config, plan);
        const steps = convergence.then(async (convergence) => {
            // It runs again on a new primary (a replacement), on a new node list (an update
            // re-runs `create`), and whenever the survey found drift: the second trigger is
            // then a new value, and otherwise ignored, so that the value a repair left
            // behind never makes a healthy `up` report a change.
            const drift = convergence?.drifted ? `drift seen at ${new Date().toISOString()}` : "none";
            const clusterScript = (
                suffix: string,
                script: string,
                dependsOn: pulumi.Resource[],
                aliases: string[] = [],
            ) =>
                new command.local.Command(
                    `${name}-${suffix}`,
                    {
                        create: `node --require tsx/cjs scripts/${script}`,
                        dir: PROJECT_ROOT,
                        environment: {
                            PGTOPO_REQUEST: JSON.stringify(request),
                            // For pg_rewind's connection to the primary.
                            PGTOPO_SUPERUSER_PASSWORD: superuserPassword.value,
                            // For a node that has to be re-cloned.
                            PGTOPO_REPLICATION_PASSWORD: replicationPassword.value,
                        },
                        triggers: [plan.primary, drift],
                    },
                    {
                        parent: this,
                        dependsOn,
                        ignoreChanges: convergence?.drifted ? [] : ["triggers[1]"],
                        aliases: aliases.map((alias) => ({ name: `${name}-${alias}` })),
                    },
                );
            // Every step that looks at or changes roles waits for the nodes' settings steps,
            // which may restart a node (archive_mode, say): a node restarted under the converge
            // step would not answer it. Only for nodes that existed before this `up`: a node it
            // bootstraps starts with its settings (PostgresNode.settled).
            const serversReady = nodes.flatMap((n) => [...n.ready, ...n.settled]);
            const converge = clusterScript("converge", "converge.ts", serversReady, ["promotion"]);
            // In a new cluster no standby is re-pointed, so the follow checks (does it stream
            // from its upstream?) need not wait for the converge step: they run beside it.
            const ready = nodes.flatMap((node) => node.finish(convergence?.newCluster ? [] : [converge]));
            // Once every standby follows its upstream: each node's role and timeline as
            // they are then. In a new cluster the converge step and the follow checks only
            // look (each finds its nodes as configured, or fails the `up`), so the report
            // runs beside them, as soon as every server is up: on two cores, three short
            // processes that each wait on the last one's end would make a longer tail.
            const report = clusterScript(
                "report",
                "report-nodes.ts",
                convergence?.newCluster && !config.restore ? serversReady : [converge, ...ready],
            );
            // With backups on: the stanza and a first full backup, so that there is something
            // to restore from before the first scheduled one. Once per stack: it is made again
            // only when the survey finds no full backup in the repository (a repository
            // emptied by hand), never because the primary changed, so a failover never waits
            // for a backup and no backup is expired for one. Its command names the primary of
            // the `up` that runs it; later changes of that name are ignored.
            if (config.backup) {
                const finding = args.survey ? await args.survey.repository : "unknown";
                const missing = finding === "no full backup";
                new command.local.Command(
                    `${name}-first-backup`,
                    {
                        create: firstBackupCommand(names.container(plan.primary)),
                        triggers: [
                            missing ? `no full backup in the repository at ${new Date().toISOString()}` : "once",
                        ],
                    },
                    {
                        parent: this,
                        dependsOn: [converge, ...ready],
                        ignoreChanges: missing ? [] : ["create", "triggers"],
                    },
                );
            }

            // `pulumi preview` says what the converge step will do, node by node, before
            // anything is done; `up` prints the same lines from the step itself.
            if (pulumi.runtime.isDryRun() && convergence && (convergence.drifted || convergence.lines.length > 1)) {
                for (const line of convergence.lines) void pulumi.log.info(`pgtopo: ${line}`, this);
            }
            return { converge, report };
        });
        this.timelines = pulumi.output(steps).apply(({ report }) => report.stdout.apply(parseTimelines));
        this.lastTransition = pulumi.output(steps).apply(({ converge }) => converge.stdout.apply((out) => out.trim()));

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
        this.registerOutputs({
            primary: this.primary,
            nodes: this.nodes,
            topology: this.topology,
            connectionStrings: this.connectionStrings,
            settingsApplied: this.settingsApplied,
            lastTransition: this.lastTransition,
            timelines: this.timelines,
        });
    }
}

/**
 * The report's last line is its JSON; anything else (empty during a preview, noise from
 * a tool) means "unknown", never a failed program.
 */
export function parseTimelines(stdout: string): Record<string, number | null> {
    const last = stdout.trim().split("\n").pop() ?? "";
    try {
        const parsed = JSON.parse(last) as Record<string, { timeline: number | null }>;
        return Object.fromEntries(Object.entries(parsed).map(([node, r]) => [node, r.timeline ?? null]));
    } catch {
        return {};
    }
}

/**
 * An Output's value for code outside the resource graph (the survey), or undefined when it
 * is not known within a few seconds: in a preview of a stack whose password is not made
 * yet, it never will be, and the survey then asks the nodes in their containers instead.
 */
function knownValue(output: pulumi.Output<string>, seconds = 3): Promise<string | undefined> {
    return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(undefined), seconds * 1000);
        output.apply((value) => {
            clearTimeout(timer);
            resolve(value);
            return value;
        });
    });
}

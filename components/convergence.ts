import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT_ROOT, stackNames } from "../contract/names";
import type { ConvergencePlan } from "../planning/convergence";
import type { RepositoryFinding } from "../preflight/survey";
import type { PostgresCluster } from "./cluster";
import { firstBackupCommand, routerAuthCommand } from "./commands";
import { ENV } from "../contract/image";

export interface ClusterConvergenceArgs {
    readonly cluster: PostgresCluster;
    /**
     * What the program found running and what converging it takes (preflight/survey.ts);
     * absent (unit tests under mocks): a new cluster.
     */
    readonly plan?: ConvergencePlan;
    /** With pgtopo:backup: whether the repository holds a full backup (preflight/survey.ts). */
    readonly repository?: RepositoryFinding;
}

/**
 * The steps that act on the cluster as a whole, once its nodes are declared: the converge
 * step (ops/converge/) settles who is primary, then makes every other node a standby of its
 * upstream, upstreams first (a no-op while the cluster is as configured; a switchover or
 * failover when pgtopo:primary names another node; a repair when what runs drifted from the
 * config); the report of each node's role and timeline; the first full backup. Declared
 * once the survey says what converging takes: whether the converge step must run at all is
 * what it found. The nodes' follow steps wait for the converge step through
 * PostgresCluster.rolesSettled, which this resolves.
 */
export class ClusterConvergence extends pulumi.ComponentResource {
    /** What the last run of the converge step did (change of primary, repairs), in plain words. */
    readonly lastTransition: pulumi.Output<string>;
    /** Each node's timeline after the last change pgtopo made (a promotion starts a new one). */
    readonly timelines: pulumi.Output<Record<string, number | null>>;

    constructor(name: string, args: ClusterConvergenceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:Convergence", name, {}, opts);
        const { cluster, plan } = args;
        const { config, request, members: nodes } = cluster;
        // These steps were the cluster's own children once: same names, kept through aliases.
        const before = (resource: string) => [{ name: resource, parent: cluster }];

        // It runs again on a new primary (a replacement), on a new node list (an update
        // re-runs `create`), and whenever the survey found drift: the second trigger is
        // then a new value, and otherwise ignored, so that the value a repair left behind
        // never makes a healthy `up` report a change.
        const drift = plan?.drifted ? `drift seen at ${new Date().toISOString()}` : "none";
        const clusterScript = (resource: string, script: string, dependsOn: pulumi.Resource[], aliases = [resource]) =>
            new command.local.Command(
                resource,
                {
                    create: `node --require tsx/cjs scripts/${script}`,
                    dir: PROJECT_ROOT,
                    environment: {
                        PGTOPO_REQUEST: JSON.stringify(request),
                        // For pg_rewind's connection to the primary.
                        PGTOPO_SUPERUSER_PASSWORD: cluster.superuserPassword,
                        // For a node that has to be re-cloned.
                        PGTOPO_REPLICATION_PASSWORD: cluster.replicationPassword,
                    },
                    triggers: [request.target, drift],
                },
                {
                    parent: this,
                    dependsOn,
                    ignoreChanges: plan?.drifted ? [] : ["triggers[1]"],
                    aliases: aliases.flatMap(before),
                },
            );
        // Every step that looks at or changes roles waits for the nodes' settings steps,
        // which may restart a node (archive_mode, say): a node restarted under the converge
        // step would not answer it. Only for nodes that existed before this `up`: a node it
        // bootstraps starts with its settings (PostgresNode.settled).
        const serversReady = nodes.flatMap((n) => [...n.ready, ...n.settled]);
        // The routers too (pgtopo:endpoints): the converge step points them.
        const routersMade = cluster.routers.map((r) => r.container);
        const converge = clusterScript(
            `${cluster.name}-converge`,
            "converge.ts",
            [...serversReady, ...routersMade],
            [`${cluster.name}-converge`, `${cluster.name}-promotion`],
        );
        // In a new cluster no standby is re-pointed, so the follow checks (does it stream
        // from its upstream?) need not wait for the converge step: they run beside it.
        cluster.rolesSettled.resolve({ converge, newCluster: plan?.newCluster ?? false });
        const finished = nodes.flatMap((node) => node.finished);
        // Once every standby follows its upstream: each node's role and timeline as they
        // are then. In a new cluster the converge step and the follow checks only look
        // (each finds its nodes as configured, or fails the `up`), so the report runs beside
        // them, as soon as every server is up: on two cores, three short processes that each
        // wait on the last one's end would make a longer tail.
        const report = clusterScript(
            `${cluster.name}-report`,
            "report-nodes.ts",
            plan?.newCluster && !config.restore ? serversReady : [converge, ...finished],
        );
        // With backups on: the stanza and a first full backup, so that there is something to
        // restore from before the first scheduled one. Once per stack: it is made again only
        // when the survey finds no full backup in the repository (a repository emptied by
        // hand), never because the primary changed, so a failover never waits for a backup
        // and no backup is expired for one. Its command names the primary of the `up` that
        // runs it; later changes of that name are ignored.
        if (config.backup) {
            const missing = args.repository === "no full backup";
            // On a repository host, backups run there (pgBackRest finds the primary itself).
            const repositoryHost = cluster.repositoryHost;
            new command.local.Command(
                `${cluster.name}-first-backup`,
                {
                    create: firstBackupCommand(
                        repositoryHost?.containerName ?? stackNames(cluster.stack).container(request.target),
                    ),
                    // On the primary's engine (with pgtopo:hosts, another host's), or the repository host's.
                    environment: (repositoryHost ?? cluster.members.find((n) => n.name === request.target))?.engine.env,
                    triggers: [missing ? `no full backup in the repository at ${new Date().toISOString()}` : "once"],
                },
                {
                    parent: this,
                    dependsOn: [converge, ...finished, ...(repositoryHost ? [repositoryHost.container] : [])],
                    ignoreChanges: missing ? [] : ["create", "triggers", "environment"],
                    aliases: before(`${cluster.name}-first-backup`),
                },
            );
        }

        // pgtopo:endpoints: the role the routers look clients up as, and its lookup function,
        // on the primary once the converge step has settled which node that is (standbys
        // get them by replication). Idempotent: it runs again with a new primary, cheaply.
        if (cluster.routerPassword) {
            const primary = cluster.members.find((n) => n.name === request.target)!;
            new command.local.Command(
                `${cluster.name}-router-auth`,
                {
                    create: routerAuthCommand(primary.containerName),
                    environment: { [ENV.routerPassword]: cluster.routerPassword, ...primary.engine.env },
                },
                { parent: this, dependsOn: [converge] },
            );
        }

        // `pulumi preview` says what the converge step will do, node by node, before anything
        // is done; `up` prints the same lines from the step itself.
        if (pulumi.runtime.isDryRun() && plan && (plan.drifted || plan.lines.length > 1)) {
            for (const line of plan.lines) void pulumi.log.info(`pgtopo: ${line}`, this);
        }
        this.timelines = report.stdout.apply(parseTimelines);
        this.lastTransition = converge.stdout.apply((out) => out.trim());
        this.registerOutputs({ lastTransition: this.lastTransition, timelines: this.timelines });
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

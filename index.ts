// First, before the SDK itself: its modules that a program never uses load on first use.
import "./program/lazy-pulumi-sdk.cjs";
import "./program/lazy-promise-stacks.cjs";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterConvergence, PostgresCluster, stackNames } from "./components";
import { knownValue } from "./components/cluster";
import { convergeRequest } from "./planning/convergence";
import { ConfigError, parseClusterConfig, rawConfigFromPulumi } from "./config";
import { claimProblems, endpointPortClaims, portProblems } from "./preflight/ports";
import { restoreProblems } from "./preflight/restore";
import { runningMajors } from "./preflight/version";
import { planUpgrade } from "./planning/upgrade";
import { markGoneEngines, writeDockerCerts } from "./ops/docker";
import { EngineUnreachable, surveyStack } from "./preflight/survey";
import { planTopology } from "./planning/topology";
import { repositoryAway } from "./planning/backup";
import { planBackupServers } from "./planning/backup-servers";

/**
 * The pgtopo program: read the `pgtopo:` stack config, check it completely (shape,
 * topology, ports free on 127.0.0.1), and only then declare any resource. A bad config
 * stops here, before anything is changed.
 */
export = async () => {
    const stack = pulumi.getStack();
    let cluster: PostgresCluster;
    let steps: ClusterConvergence;
    let tls: boolean;
    try {
        const config = parseClusterConfig(rawConfigFromPulumi(pulumi.runtime.allConfig()));
        tls = config.tls;
        const plan = planTopology(config, stack);
        // tcp:// engines: their client certificates where pgtopo's docker CLI steps read them,
        // before the survey's first listing.
        for (const host of Object.values(config.hosts ?? {})) {
            if (host.tls && !host.gone) writeDockerCerts(host.docker, host.tls);
        }
        const names = stackNames(stack);
        // The survey finds what drifted from the config since the last `up`. Its docker
        // listings start now; its queries run while the resources that do not need them
        // are declared.
        const repositoryHost = config.backup?.repositoryHost;
        const survey = surveyStack(stack, convergeRequest(stack, config, plan), {
            backups: config.backup !== undefined,
            repositoryHost: repositoryHost && {
                dockerHost: repositoryHost.host ? config.hosts?.[repositoryHost.host]?.docker : undefined,
            },
        });
        // The node image is built FROM it: when it is here already, the build need not wait
        // for the step that would make it. Asked through the docker provider rather than the
        // CLI, so that the engine starts the provider's plugin now, while the config is
        // checked, not once the first resource needs it (0.1 s later on a cold `up`).
        // Not found, or not asked: false (the step then makes it).
        const baseImagePresent = docker.getRemoteImage({ name: config.baseImage }).then(
            () => true,
            () => false,
        );
        // The PostgreSQL major of the nodes that exist, on every engine that is not marked
        // gone (an unreachable one is the survey's to report): a change of postgresVersion
        // under them is a major upgrade (planning/upgrade.ts), or refused with the reason.
        const upgrade = runningMajors(stack, [...new Set(plan.nodes.filter((n) => !n.gone).map((n) => n.dockerHost))])
            .catch(() => [])
            .then((running) => planUpgrade(config, plan, running, config.postgresVersion, stack));
        // What runs now may rule out a config that is valid on paper: these checks look
        // first, before any resource is declared.
        const problems = (
            await Promise.all([
                // Every engine answers before anything is declared (EngineUnreachable otherwise).
                survey.engines.then(() => []),
                upgrade.then((decision) => (decision.kind === "refused" ? decision.problems : [])),
                restoreProblems(stack, config),
                // Across hosts the ports are published on the hosts' addresses, not here.
                config.hosts
                    ? Promise.resolve([])
                    : Promise.all([
                          portProblems(config.nodes, names.container),
                          claimProblems(endpointPortClaims(config.endpoints, names.router)),
                      ]).then((lists) => lists.flat()),
            ])
        ).flat();
        if (problems.length > 0) throw new ConfigError(problems);
        const upgradeDecision = await upgrade;
        const upgradePlan = upgradeDecision.kind === "upgrade" ? upgradeDecision.plan : undefined;
        if (upgradePlan) void pulumi.log.info(`pgtopo: ${upgradePlan.summary}`);
        // (Settled with the engines' listings, above.)
        const [found, routersFound, repositoryHostFound] = await Promise.all([
            survey.found,
            survey.routersFound,
            survey.repositoryHostFound,
        ]);
        // A remote repository that does not answer: refused where this `up` needs it, said
        // otherwise. (A repository host's container stopped or removed is not away: this
        // `up` starts or recreates it.)
        const repairsRepositoryHost = repositoryHostFound?.stopped || repositoryHostFound?.recreated;
        if (config.backup?.s3 || (repositoryHost && !repairsRepositoryHost)) {
            const finding = await survey.repository;
            if (typeof finding === "object") {
                const newStandbys = plan.nodes
                    .filter((n) => n.role !== "primary" && !found[n.name]?.existed)
                    .map((n) => n.name);
                const away = repositoryAway(
                    config.backup!,
                    finding.unreachable,
                    newStandbys,
                    repositoryHost && { container: names.repositoryContainer, host: repositoryHost.host },
                );
                if (away.problems.length > 0) throw new ConfigError(away.problems);
                void pulumi.log.warn(away.warning);
            }
        }
        // pgtopo:backup.s3 across hosts: which standbys a backup cannot read from another host.
        const backupServersNote = planBackupServers(config)?.note;
        if (backupServersNote) void pulumi.log.info(`pgtopo: ${backupServersNote}`);
        // The steps that remove things on a host read whether it is marked gone when they
        // run, from the state's commands or in a destroy that runs no program.
        if (config.hosts && !pulumi.runtime.isDryRun()) markGoneEngines(Object.values(config.hosts));
        cluster = new PostgresCluster("pgtopo", {
            stack,
            config,
            plan,
            found,
            routersFound,
            repositoryHostFound,
            baseImagePresent,
            upgrade: upgradePlan,
        });
        // What converging takes, from one query per node (over its published port once the
        // password is known): asked while the nodes' resources go to the engine.
        const [convergence, repository] = await Promise.all([
            survey.convergence(() => knownValue(cluster.superuserPassword)),
            survey.repository,
        ]);
        steps = new ClusterConvergence(
            "pgtopo-convergence",
            { cluster, plan: convergence, repository },
            { parent: cluster },
        );
    } catch (err) {
        if (err instanceof ConfigError || err instanceof EngineUnreachable) throw userError(err.message);
        throw err;
    }
    return {
        primary: cluster.primary,
        nodes: cluster.nodes,
        topology: cluster.topology,
        connectionStrings: cluster.connectionStrings,
        // Every node in one libpq URI that keeps the primary, for clients that want no router.
        multiHostUrl: cluster.multiHostUrl,
        // pgtopo:endpoints: rw and ro through the routers (secret: they carry the password).
        ...(cluster.endpoints ? { endpoints: cluster.endpoints } : {}),
        // What `npm run status` compares the routers with: each one's listeners and targets.
        ...(cluster.request.routers.length > 0 ? { routers: cluster.request.routers } : {}),
        // Where `npm run backup` runs backups with pgtopo:backup.repositoryHost.
        ...(cluster.repositoryHost
            ? {
                  repositoryHost: {
                      container: cluster.repositoryHost.containerName,
                      dockerHost: cluster.repositoryHost.engine.env.DOCKER_HOST ?? "",
                  },
              }
            : {}),
        settingsApplied: cluster.settingsApplied,
        lastTransition: steps.lastTransition,
        timelines: steps.timelines,
        // What `npm run status` holds the replication connections to.
        tls,
    };
};

/**
 * An error the user fixes in the config: a RunError, which Pulumi prints as the message
 * alone, without a stack trace that would bury it. Its stack is set to the message up
 * front because the SDK still renders it for its trace, and rendering a real one through
 * source maps took 14 s of CPU here (a refused config took 16 s instead of 1.4 s).
 */
function userError(message: string): pulumi.RunError {
    const error = new pulumi.RunError(message);
    Object.defineProperty(error, "stack", { value: message });
    return error;
}

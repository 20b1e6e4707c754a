import * as pulumi from "@pulumi/pulumi";
import { PostgresCluster, stackNames } from "./components";
import { ConfigError, parseClusterConfig, rawConfigFromPulumi } from "./config";
import { portProblems } from "./config/ports";
import { versionProblems } from "./config/version";
import { planTopology } from "./planning/topology";

/**
 * The pgtopo program: read the `pgtopo:` stack config, check it completely (shape,
 * topology, ports free on 127.0.0.1), and only then declare any resource. A bad config
 * stops here, before anything is changed.
 */
export = async () => {
    const stack = pulumi.getStack();
    let cluster: PostgresCluster;
    try {
        const config = parseClusterConfig(rawConfigFromPulumi(pulumi.runtime.allConfig()));
        const plan = planTopology(config);
        // What runs now may rule out a config that is valid on paper: both checks look first.
        const [taken, upgrade] = await Promise.all([
            portProblems(config.nodes, stackNames(stack).container),
            versionProblems(stack, config.postgresVersion),
        ]);
        if (taken.length + upgrade.length > 0) throw new ConfigError([...upgrade, ...taken]);
        cluster = new PostgresCluster("pgtopo", { stack, config, plan });
    } catch (err) {
        // RunError prints the message alone, without a stack trace that would bury it.
        if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
        throw err;
    }
    return {
        primary: cluster.primary,
        nodes: cluster.nodes,
        topology: cluster.topology,
        connectionStrings: cluster.connectionStrings,
        settingsApplied: cluster.settingsApplied,
        lastTransition: cluster.lastTransition,
        timelines: cluster.timelines,
    };
};

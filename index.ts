import * as pulumi from "@pulumi/pulumi";
import { PostgresCluster } from "./components";
import { ConfigError, parseClusterConfig, rawConfigFromPulumi } from "./config";
import { planTopology, type TopologyPlan } from "./planning/topology";
import type { ClusterConfig } from "./config";

/**
 * The pgtopo program: read the `pgtopo:` stack config, check it completely, and only
 * then declare any resource. A bad config stops here, before anything is changed.
 */
function loadPlan(): { config: ClusterConfig; plan: TopologyPlan } {
    try {
        const config = parseClusterConfig(rawConfigFromPulumi(pulumi.runtime.allConfig()));
        return { config, plan: planTopology(config) };
    } catch (err) {
        // RunError prints the message alone, without a stack trace that would bury it.
        if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
        throw err;
    }
}

const { config, plan } = loadPlan();
const cluster = new PostgresCluster("pgtopo", { stack: pulumi.getStack(), config, plan });

export const primary = cluster.primary;
export const nodes = cluster.nodes;
export const topology = cluster.topology;
export const connectionStrings = cluster.connectionStrings;
export const settingsApplied = cluster.settingsApplied;
export const lastTransition = cluster.lastTransition;

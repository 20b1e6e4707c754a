/**
 * `npm run status`: the cluster at a glance. Reads the stack's outputs (what should
 * be), asks every node (what is), prints both side by side with every difference.
 * Exit code: 0 healthy and matching the config, 1 not, 2 could not tell.
 *
 *   npm run status [-- --stack dev] [--dir PROJECT_DIR] [--json] [--format table|json|mermaid]
 */
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { stackNames } from "../contract/names";
import { observeBackups } from "../ops/backups";
import { endpointsFor, observeCluster } from "../ops/observe";
import { assessBackups } from "../planning/backup-health";
import { renderStatus } from "../ops/report";
import { dockerRouterDriver } from "../ops/routers";
import { assessRouters, type RouterPlan } from "../planning/routers";
import { assessCluster, topologyTree, type DesiredNode } from "../planning/health";

async function main(): Promise<number> {
    const { values } = parseArgs({
        options: {
            stack: { type: "string", default: process.env.PGTOPO_STACK ?? "dev" },
            dir: { type: "string", default: path.resolve(__dirname, "..") },
            json: { type: "boolean", default: false },
            format: { type: "string", default: "table" },
        },
    });
    const format = values.json ? "json" : values.format;
    if (!["table", "json", "mermaid"].includes(format)) {
        console.error(`--format: "${format}" is not allowed; allowed: table, json, mermaid`);
        return 2;
    }

    const stack = await LocalWorkspace.selectStack({ stackName: values.stack, workDir: path.resolve(values.dir) });
    const outputs = await stack.outputs();
    if (!outputs.nodes) {
        console.error(`stack ${values.stack} has no pgtopo outputs; run 'npm run up' first`);
        return 2;
    }
    if (format === "mermaid") {
        console.log(outputs.topology.value);
        return 0;
    }
    const desired = outputs.nodes.value as Record<string, DesiredNode>;
    const primary = outputs.primary.value as string;
    const names = stackNames(values.stack);
    // Every node on its own engine (pgtopo:hosts), asked in its container.
    const observed = await observeCluster(
        endpointsFor(
            Object.entries(desired).map(([name, n]) => ({
                ...n,
                name,
                container: names.container(name),
                endpoint: n.endpoint ?? name,
            })),
        ),
    );
    const cluster = assessCluster(desired, primary, observed, { tls: outputs.tls?.value === true });
    const seen = await observeBackups(names.container(primary), desired[primary]?.dockerHost);
    const backups = seen ? assessBackups(primary, seen, new Date()) : undefined;
    // pgtopo:endpoints: each router, asked in its container.
    const routerPlans = (outputs.routers?.value ?? []) as RouterPlan[];
    const routerDriver = dockerRouterDriver();
    // A standby that is down is rightly left out of ro (servingTargets): its own row says it is down.
    const away = new Set(observed.filter((o) => o.container !== "running" || !o.reachable).map((o) => o.name));
    const routers = assessRouters(
        routerPlans,
        await Promise.all(routerPlans.map((r) => routerDriver.observe(r))),
        away,
    );
    const differences = [...cluster.differences, ...routers.differences, ...(backups?.differences ?? [])];
    const status = {
        ...cluster,
        healthy: differences.length === 0,
        differences,
        routers: routers.listeners,
        backups: backups?.lines,
    };
    if (format === "json") console.log(JSON.stringify(status, null, 2));
    else process.stdout.write(renderStatus(status, topologyTree(desired, primary)));
    return status.healthy ? 0 : 1;
}

main().then(
    (code) => (process.exitCode = code),
    (err: Error) => {
        console.error(`pgtopo status: ${err.message}`);
        process.exitCode = 2;
    },
);

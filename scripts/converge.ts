/**
 * Run by the cluster's converge Command on every `pulumi up` that changes the primary or
 * the nodes, or that found the cluster drifted from the config: makes the configured node
 * the only primary and every other node a standby of its upstream (ops/converge.ts).
 * Input comes from the environment: PGTOPO_REQUEST (JSON) and PGTOPO_SUPERUSER_PASSWORD
 * and PGTOPO_REPLICATION_PASSWORD (secrets, so never on a command line or in a log: the
 * first is for pg_rewind's connection to the primary, the second for re-cloning a node).
 */
import { convergeCluster, realClock } from "../ops/converge";
import { dockerDriver } from "../ops/driver";
import { dockerRouterDriver } from "../ops/routers";
import type { ConvergeRequest } from "../planning/convergence";

// Lines from the node scripts already say "pgtopo[node]:"; everything else gets "pgtopo:".
// Each line says when, in seconds since the step began, so a slow step shows itself.
const started = performance.now();
const log = (text: string) => {
    const at = `[+${((performance.now() - started) / 1000).toFixed(1)}s]`;
    console.log(
        text
            .split("\n")
            .map((line) => (line.startsWith("pgtopo[") ? `${at} ${line}` : `${at} pgtopo: ${line}`))
            .join("\n"),
    );
};

async function main(): Promise<void> {
    const request = JSON.parse(process.env.PGTOPO_REQUEST ?? "") as ConvergeRequest;
    const password = process.env.PGTOPO_SUPERUSER_PASSWORD;
    if (!password) throw new Error("PGTOPO_SUPERUSER_PASSWORD is not set");
    if (!process.env.PGTOPO_REPLICATION_PASSWORD) throw new Error("PGTOPO_REPLICATION_PASSWORD is not set");
    await convergeCluster({
        request,
        driver: dockerDriver(request, password),
        routers: dockerRouterDriver(),
        log,
        clock: realClock,
    });
}

main().catch((err: Error) => {
    console.error(`pgtopo: ${err.message}`);
    process.exitCode = 1;
});

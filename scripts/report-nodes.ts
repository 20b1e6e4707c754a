/**
 * Run by the cluster's report Command after every run of the converge step, once every
 * standby follows its upstream: prints one JSON line with each node's role and timeline
 * as they are then, which becomes the stack output `timelines`. Input: PGTOPO_REQUEST and
 * PGTOPO_SUPERUSER_PASSWORD, as for converge.ts.
 */
import { endpointsOf, observeCluster } from "../ops/observe";
import type { ConvergeRequest } from "../planning/convergence";

async function main(): Promise<void> {
    const request = JSON.parse(process.env.PGTOPO_REQUEST ?? "") as ConvergeRequest;
    const observed = await observeCluster(endpointsOf(request, process.env.PGTOPO_SUPERUSER_PASSWORD));
    const report = Object.fromEntries(
        observed.map((o) => [
            o.name,
            {
                timeline: o.timeline ?? null,
                role: o.inRecovery === undefined ? "unknown" : o.inRecovery ? "standby" : "primary",
            },
        ]),
    );
    console.log(JSON.stringify(report));
}

main().catch((err: Error) => {
    console.error(`pgtopo: ${err.message}`);
    process.exitCode = 1;
});

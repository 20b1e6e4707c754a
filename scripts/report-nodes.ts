/**
 * Run by the cluster's report Command after every change of primary or of the nodes,
 * once every standby follows its upstream: prints one JSON line with each node's role
 * and timeline as they are then, which becomes the stack output `timelines`.
 * Input: PGTOPO_TRANSITION and PGTOPO_SUPERUSER_PASSWORD, as for converge-primary.ts.
 */
import { observeCluster } from "../ops/observe";
import { endpointsOf, type TransitionRequest } from "../ops/converge-primary";

async function main(): Promise<void> {
    const request = JSON.parse(process.env.PGTOPO_TRANSITION ?? "") as TransitionRequest;
    const observed = await observeCluster(endpointsOf(request, process.env.PGTOPO_SUPERUSER_PASSWORD ?? ""));
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

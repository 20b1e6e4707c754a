/**
 * Run by the cluster's promotion Command on every `pulumi up` that changes the primary
 * (or the nodes): makes the configured node the only primary. Input comes from the
 * environment: PGTOPO_TRANSITION (JSON, see ops/converge-primary.ts) and
 * PGTOPO_SUPERUSER_PASSWORD and PGTOPO_REPLICATION_PASSWORD (secrets, so never on a
 * command line or in a log; the second is for re-cloning a node pg_rewind cannot rejoin).
 */
import { convergePrimary, type TransitionRequest } from "../ops/converge-primary";

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
    const request = JSON.parse(process.env.PGTOPO_TRANSITION ?? "") as TransitionRequest;
    const password = process.env.PGTOPO_SUPERUSER_PASSWORD;
    if (!password) throw new Error("PGTOPO_SUPERUSER_PASSWORD is not set");
    if (!process.env.PGTOPO_REPLICATION_PASSWORD) throw new Error("PGTOPO_REPLICATION_PASSWORD is not set");
    await convergePrimary(request, password, log);
}

main().catch((err: Error) => {
    console.error(`pgtopo: ${err.message}`);
    process.exitCode = 1;
});

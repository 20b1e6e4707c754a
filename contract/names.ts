/**
 * Names of the Docker objects of one stack. Everything a stack creates starts with
 * `pgtopo-<stack>-`, so that two stacks (dev and a test run, say) never collide and
 * leftovers are easy to find (`docker ps -a --filter label=pgtopo.stack=<stack>`).
 */
export interface StackNames {
    readonly prefix: string;
    readonly network: string;
    readonly image: (postgresVersion: string) => string;
    readonly container: (node: string) => string;
    readonly volume: (node: string) => string;
    readonly bootstrapContainer: (node: string) => string;
    /** The pgBackRest repository of the stack (pgtopo:backup). */
    readonly backupVolume: string;
    /** pgtopo:backup.repositoryHost: the repository's container. */
    readonly repositoryContainer: string;
    /** The stack's CA and certificates for pgBackRest's TLS server (pgtopo:backup). */
    readonly tlsVolume: string;
    /** The router of pgtopo:endpoints (one per engine, so the same name on each). */
    readonly router: string;
    /** Where a router keeps its targets across replacements of its container. */
    readonly routerVolume: string;
    /** The router image (PgBouncer, images/pgbouncer), shared by every stack like the node image. */
    readonly routerImage: string;
}

import * as path from "path";
import { pgtopoHome } from "./home";

/** The project root: Commands run the repository's scripts/ from there. */
export const PROJECT_ROOT = path.join(__dirname, "..");

export const STACK_LABEL = "pgtopo.stack";
export const NODE_LABEL = "pgtopo.node";
/** On router containers: which router of the stack this is (planning/routers.ts). */
export const ROUTER_LABEL = "pgtopo.router";
/** On node containers: which incarnation this is (planning/generation.ts). */
export const GENERATION_LABEL = "pgtopo.generation";
/**
 * On the backup repository volume, instead of STACK_LABEL: the stack's janitor removes
 * every volume with STACK_LABEL on destroy, and the backups must outlive that unless
 * pgtopo:backup.deleteBackupsOnDestroy says otherwise.
 */
export const BACKUPS_LABEL = "pgtopo.backups";

/**
 * pgtopo:backup.repositoryHost: the repository container's name on the stack's network, and
 * in every node's /etc/hosts across hosts (so no node may take it).
 */
export const REPOSITORY_NAME = "repository";

export function stackNames(stack: string): StackNames {
    const prefix = `pgtopo-${stack}`;
    return {
        prefix,
        network: `${prefix}-net`,
        // The image depends only on its build context and the PostgreSQL version, so all
        // stacks share one tag and a second stack reuses the first one's build.
        image: (postgresVersion) => `pgtopo/postgres:${postgresVersion}`,
        container: (node) => `${prefix}-${node}`,
        volume: (node) => `${prefix}-${node}-data`,
        bootstrapContainer: (node) => `${prefix}-${node}-bootstrap`,
        backupVolume: `${prefix}-backups`,
        repositoryContainer: `${prefix}-${REPOSITORY_NAME}`,
        tlsVolume: `${prefix}-tls`,
        router: `${prefix}-router`,
        routerVolume: `${prefix}-router-data`,
        routerImage: "pgtopo/pgbouncer:1.24",
    };
}

/**
 * pgtopo:tls: where the stack's CA certificate is kept on this machine, for clients that
 * verify the nodes (the connection strings name it). Beside the state, in PGTOPO_HOME.
 */
export function stackCaFile(stack: string): string {
    return path.join(pgtopoHome(), "tls", `${stack}-ca.crt`);
}

import { createServer } from "node:net";
import type { EndpointsConfig, NodeConfig } from "../config/schema";
import { LISTENERS } from "../planning/routers";
import { dockerText } from "../ops/docker";

/** Who holds a port: a container (by name), or some other process. */
export type PortHolder = { readonly container: string } | { readonly process: true };

/** Whether something already listens on 127.0.0.1:port, and if a container, which one. */
export async function portHolder(port: number): Promise<PortHolder | undefined> {
    const names = await dockerText(undefined, ["ps", "--filter", `publish=${port}`, "--format", "{{.Names}}"]).catch(
        () => "",
    );
    const container = names.split("\n").filter(Boolean)[0];
    if (container) return { container };
    const free = await new Promise<boolean>((resolve) => {
        const server = createServer();
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    return free ? undefined : { process: true };
}

/** A port the config asks for on 127.0.0.1, the config field it comes from, and the container that may hold it. */
export interface PortClaim {
    /** The config field, as the error names it: `pgtopo:nodes[1] (pg-2).port`. */
    readonly field: string;
    readonly port: number;
    /** The container that holds it when the stack already runs. */
    readonly container: string;
}

/**
 * One sentence per port the config asks for that is taken by anything but the container
 * that is to hold it (the node's own, the router's), checked before any resource is
 * declared so that a taken port fails the preview instead of half an update.
 */
export async function claimProblems(
    claims: readonly PortClaim[],
    holderOf: (port: number) => Promise<PortHolder | undefined> = portHolder,
): Promise<string[]> {
    // Every port at once (a docker listing each): in order, one at a time, they were on
    // the way of every `up` before its first resource.
    const holders = await Promise.all(claims.map((claim) => holderOf(claim.port)));
    return claims.flatMap((claim, i) => {
        const holder = holders[i];
        if (!holder || ("container" in holder && holder.container === claim.container)) return [];
        const by = "container" in holder ? `container ${holder.container}` : "another process";
        return [`${claim.field}: ${claim.port} is already in use on 127.0.0.1 by ${by}; choose a free port`];
    });
}

/** The nodes' ports: each to be held by that node's own container (`expectedContainer`). */
export function portProblems(
    nodes: readonly NodeConfig[],
    expectedContainer: (node: string) => string,
    holderOf?: (port: number) => Promise<PortHolder | undefined>,
): Promise<string[]> {
    return claimProblems(
        nodes.map((node, i) => ({
            field: `pgtopo:nodes[${i}] (${node.name}).port`,
            port: node.port,
            container: expectedContainer(node.name),
        })),
        holderOf,
    );
}

/** pgtopo:endpoints on one machine: each listener's port, to be held by the stack's router. */
export function endpointPortClaims(endpoints: EndpointsConfig | undefined, routerContainer: string): PortClaim[] {
    return LISTENERS.flatMap((listener) => {
        const port = endpoints?.[listener]?.port;
        return port === undefined
            ? []
            : [{ field: `pgtopo:endpoints.${listener}.port`, port, container: routerContainer }];
    });
}

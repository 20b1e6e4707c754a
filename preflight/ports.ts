import { createServer } from "node:net";
import type { NodeConfig } from "../config/schema";
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

/**
 * One sentence per node whose port is taken by anything but that same node's own
 * container (`expectedContainer`), checked before any resource is declared so that a
 * taken port fails the preview instead of half an update.
 */
export async function portProblems(
    nodes: readonly NodeConfig[],
    expectedContainer: (node: string) => string,
    holderOf: (port: number) => Promise<PortHolder | undefined> = portHolder,
): Promise<string[]> {
    // Every port at once (a docker listing each): in order, one at a time, they were on
    // the way of every `up` before its first resource.
    const holders = await Promise.all(nodes.map((node) => holderOf(node.port)));
    return nodes.flatMap((node, i) => {
        const holder = holders[i];
        if (!holder || ("container" in holder && holder.container === expectedContainer(node.name))) return [];
        const by = "container" in holder ? `container ${holder.container}` : "another process";
        return [
            `pgtopo:nodes[${i}] (${node.name}).port: ${node.port} is already in use on 127.0.0.1 by ${by}; choose a free port`,
        ];
    });
}

import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { promisify } from "node:util";
import type { NodeConfig } from "./schema";

const run = promisify(execFile);

/** Who holds a port: a container (by name), or some other process. */
export type PortHolder = { readonly container: string } | { readonly process: true };

/** Whether something already listens on 127.0.0.1:port, and if a container, which one. */
export async function portHolder(port: number): Promise<PortHolder | undefined> {
    const { stdout } = await run("docker", ["ps", "--filter", `publish=${port}`, "--format", "{{.Names}}"]).catch(
        () => ({
            stdout: "",
        }),
    );
    const container = stdout.trim().split("\n").filter(Boolean)[0];
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
    const problems: string[] = [];
    for (const [i, node] of nodes.entries()) {
        const holder = await holderOf(node.port);
        if (!holder || ("container" in holder && holder.container === expectedContainer(node.name))) continue;
        const by = "container" in holder ? `container ${holder.container}` : "another process";
        problems.push(
            `pgtopo:nodes[${i}] (${node.name}).port: ${node.port} is already in use on 127.0.0.1 by ${by}; choose a free port`,
        );
    }
    return problems;
}

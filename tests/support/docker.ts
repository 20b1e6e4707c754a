import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Runs the docker CLI against the local engine and returns its trimmed stdout. */
export async function docker(...args: string[]): Promise<string> {
    const { stdout } = await run("docker", args, { maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim();
}

/** Every Docker object a stack owns carries the pgtopo.stack label (networks and volumes too). */
export async function objectsOfStack(
    stack: string,
): Promise<{ containers: string[]; volumes: string[]; networks: string[] }> {
    const filter = `label=pgtopo.stack=${stack}`;
    const lines = (s: string) => s.split("\n").filter(Boolean);
    return {
        containers: lines(await docker("ps", "-a", "--filter", filter, "--format", "{{.Names}}")),
        volumes: lines(await docker("volume", "ls", "--filter", filter, "--format", "{{.Name}}")),
        networks: lines(await docker("network", "ls", "--filter", filter, "--format", "{{.Name}}")),
    };
}

/** SIGKILLs every process whose command line contains `pattern` (a crash, not a shutdown). */
export async function killMatching(pattern: string): Promise<void> {
    await run("pkill", ["-9", "-f", pattern]).catch(() => undefined); // exit 1: nothing matched
}

/** The node image of the stacks the tests make (PostgreSQL 15). */
export const NODE_IMAGE = "pgtopo/postgres:15";

/** Runs a shell script on a node's volume (container up or not), in a throwaway container. */
export function inVolumeOf(stack: string, node: string, script: string): Promise<string> {
    return docker(
        "run", "--rm", "--network", "none", "-v", `pgtopo-${stack}-${node}-data:/var/lib/postgresql/data`,
        "--entrypoint", "sh", NODE_IMAGE, "-c", script,
    ); // prettier-ignore
}

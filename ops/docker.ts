import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * The docker CLI on one node's engine: the local one, or a host's of pgtopo:hosts, named by
 * its DOCKER_HOST (ssh://, unix://). Every step that touches a node goes through here, so
 * that none assumes the local engine.
 */
export function dockerOn(
    dockerHost: string | undefined,
    args: readonly string[],
    options: { timeout?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
    return run("docker", [...args], {
        maxBuffer: 8 << 20,
        timeout: options.timeout,
        env: dockerHost ? { ...process.env, DOCKER_HOST: dockerHost } : process.env,
    });
}

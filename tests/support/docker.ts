import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
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

/**
 * SIGKILLs (a crash, not a shutdown) every process whose command line matches `pattern`
 * and that works for the stack `stack`: its name in the command line or the environment
 * (the step scripts get their containers' names there). Other test files run at the same
 * time, with processes of the same command lines for their own stacks, which live on.
 */
export async function killMatching(pattern: string, stack: string): Promise<void> {
    // pgrep exits 1 when nothing matched.
    const { stdout } = await run("pgrep", ["-f", pattern]).catch(() => ({ stdout: "" }));
    for (const pid of stdout.split("\n").filter(Boolean).map(Number)) {
        if (pid === process.pid) continue;
        const said = ["cmdline", "environ"].map((file) => {
            try {
                return readFileSync(`/proc/${pid}/${file}`, "utf8");
            } catch {
                return ""; // it ended meanwhile
            }
        });
        if (!said.some((text) => text.includes(stack))) continue;
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            // it ended meanwhile
        }
    }
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

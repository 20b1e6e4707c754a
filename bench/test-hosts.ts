import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { PROJECT_DIR } from "../tests/support/stack";

const run = promisify(execFile);
const SCRIPT = path.join(PROJECT_DIR, "scripts", "test-hosts.sh");

/** Test hosts for a bench (`--hosts`): Docker engines in network namespaces, as the tests make them. */
export interface TestHosts {
    readonly hosts: Record<string, { docker: string; address: string }>;
    /** This machine's address on the hosts' bridge: the benches' pgtopo:clients entry. */
    readonly here: string;
    /** The docker CLI on one host's engine. */
    docker(host: string, ...args: string[]): Promise<string>;
    /** Stops the engines and removes the hosts, their data roots too. */
    remove(): Promise<void>;
}

export async function startTestHosts(count: number, group = "b"): Promise<TestHosts> {
    const { stdout } = await run("bash", [SCRIPT, "up", group, String(count)], { maxBuffer: 8 << 20 });
    const hosts = Object.fromEntries(
        stdout
            .trim()
            .split("\n")
            .map((line) => line.split(" "))
            .map(([name, docker, address]) => [name, { docker, address }]),
    );
    const first = Object.values(hosts)[0].address;
    return {
        hosts,
        here: first.replace(/\.\d+$/, ".1"),
        docker: async (host, ...args) =>
            (await run("docker", args, { env: { ...process.env, DOCKER_HOST: hosts[host].docker } })).stdout.trim(),
        remove: async () => void (await run("bash", [SCRIPT, "down", group, "--purge"])),
    };
}

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { PROJECT_DIR, type ClusterSpec } from "./stack";

const run = promisify(execFile);
const SCRIPT = path.join(PROJECT_DIR, "scripts", "test-hosts.sh");

/**
 * Test hosts (the hosts test, and the benches' `--hosts`): Docker engines in network
 * namespaces on this machine, each with its own address on a bridge (scripts/test-hosts.sh).
 */
export interface TestHosts {
    /** pgtopo:hosts for them; a tcp:// engine's entry carries its client certificate. */
    readonly hosts: NonNullable<ClusterSpec["hosts"]>;
    /** This machine's address on the hosts' bridge: where its connections to them come from. */
    readonly here: string;
    /** The docker CLI on one host's engine (with its client certificate for a tcp:// one). */
    docker(host: string, ...args: string[]): Promise<string>;
    /** Takes host number `index` off the network (and with `engine`, its Docker engine too). */
    cut(index: number, options?: { engine?: boolean }): Promise<void>;
    /** Puts it back. */
    restore(index: number): Promise<void>;
    /** Stops the engines and removes the hosts, their data roots too. */
    remove(): Promise<void>;
}

/**
 * Starts `count` hosts named `<group>1..` on the bridge 10.`net`.0.0/24; those numbered in
 * `tls` are reached over tcp:// with TLS (client certificates required), the others over
 * their Unix sockets. Test files that run at the same time each use a group and a net of
 * their own (the benches the defaults, "b" on 250).
 */
export async function startTestHosts(
    count: number,
    options: { group?: string; net?: number; tls?: readonly number[] } = {},
): Promise<TestHosts> {
    const group = options.group ?? "b";
    const env = {
        ...process.env,
        PGTOPO_TEST_TLS: (options.tls ?? []).join(" "),
        PGTOPO_TEST_NET: String(options.net ?? 250),
    };
    const script = async (...args: string[]) =>
        (await run("bash", [SCRIPT, ...args], { maxBuffer: 8 << 20, env })).stdout.trim();

    const hosts: TestHosts["hosts"] = {};
    const clientEnv: Record<string, Record<string, string>> = {};
    for (const line of (await script("up", group, String(count))).split("\n")) {
        const [name, docker, address, certDir] = line.split(" ");
        hosts[name] = { docker, address };
        clientEnv[name] = { DOCKER_HOST: docker };
        if (certDir) {
            const pem = (file: string) => readFileSync(path.join(certDir, file), "utf8");
            hosts[name].tls = { ca: pem("ca.pem"), cert: pem("cert.pem"), key: pem("key.pem") };
            clientEnv[name] = { ...clientEnv[name], DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: certDir };
        }
    }
    const first = Object.values(hosts)[0].address;
    return {
        hosts,
        here: first.replace(/\.\d+$/, ".1"),
        docker: async (host, ...args) =>
            (await run("docker", args, { env: { ...process.env, ...clientEnv[host] } })).stdout.trim(),
        cut: async (index, cutOptions = {}) =>
            void (await script("cut", group, String(index), ...(cutOptions.engine ? ["--engine"] : []))),
        restore: async (index) => void (await script("restore", group, String(index))),
        remove: async () => void (await script("down", group, "--purge")),
    };
}

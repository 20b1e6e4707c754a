import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { pgtopoHome } from "../contract/home";
import { HOST } from "../contract/image";

const run = promisify(execFile);

/** An engine's files in PGTOPO_HOME are named after its URL; scripts/docker-env.sh derives the same name. */
function engineId(url: string): string {
    return createHash("sha256").update(url).digest("hex").slice(0, 16);
}

/**
 * Where the docker CLI finds the client certificate of a tcp:// engine (DOCKER_CERT_PATH:
 * ca.pem, cert.pem, key.pem), named after the engine's URL so that every step finds it
 * from the URL alone.
 */
export function dockerCertDir(url: string): string {
    return path.join(pgtopoHome(), HOST.dockerTlsDir, engineId(url));
}

/**
 * pgtopo:hosts.NAME.gone, where the steps that run after the program reads the config
 * look for it: the removal steps of a node, of a stack's objects on a host, of a slot
 * (their `delete` commands come from the state, as the `up` that made them wrote them, and
 * `pulumi destroy` runs no program). scripts/unless-gone.sh reads the same file.
 */
export function goneMarker(url: string): string {
    return path.join(pgtopoHome(), HOST.goneDir, engineId(url));
}

/** Marks the engines of hosts marked gone, and unmarks the others of the stack. */
export function markGoneEngines(hosts: readonly { readonly docker: string; readonly gone: boolean }[]): void {
    for (const { docker, gone } of hosts) {
        const marker = goneMarker(docker);
        if (!gone) {
            rmSync(marker, { force: true });
            continue;
        }
        if (existsSync(marker)) continue;
        mkdirSync(path.dirname(marker), { recursive: true });
        writeFileSync(marker, `${docker}\n`);
    }
}

/** The docker CLI's environment for an engine: DOCKER_HOST, and for tcp:// its TLS settings. */
export function dockerEnv(url: string | undefined): Record<string, string> {
    if (!url) return {};
    if (!url.startsWith("tcp://")) return { DOCKER_HOST: url };
    return { DOCKER_HOST: url, DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: dockerCertDir(url) };
}

/** A tcp:// engine's TLS material (pgtopo:hosts.NAME.tls, from secrets): PEM text. */
export interface DockerTls {
    readonly ca: string;
    readonly cert: string;
    readonly key: string;
}

/**
 * Puts a tcp:// engine's client certificate where the docker CLI of pgtopo's steps reads
 * it (dockerCertDir), readable by this user only, as `docker context` keeps them. Written
 * by the program before anything talks to the engine, and only when it changed.
 */
export function writeDockerCerts(url: string, tls: DockerTls): void {
    const dir = dockerCertDir(url);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    for (const [file, text] of [
        ["ca.pem", tls.ca],
        ["cert.pem", tls.cert],
        ["key.pem", tls.key],
    ] as const) {
        const target = path.join(dir, file);
        if (existsSync(target) && readFileSync(target, "utf8") === text) continue;
        writeFileSync(`${target}.partial`, text, { mode: 0o600 });
        renameSync(`${target}.partial`, target);
    }
}

/**
 * The docker CLI on one node's engine: the local one, or a host's of pgtopo:hosts, named by
 * its DOCKER_HOST (ssh://, unix://, tcp:// with TLS). Every step that touches a node goes
 * through here, so that none assumes the local engine.
 */
export function dockerOn(
    dockerHost: string | undefined,
    args: readonly string[],
    options: DockerCallOptions = {},
): Promise<{ stdout: string; stderr: string }> {
    return run("docker", [...args], {
        maxBuffer: 8 << 20,
        timeout: options.timeout,
        env: { ...process.env, ...options.env, ...dockerEnv(dockerHost) },
    });
}

export interface DockerCallOptions {
    readonly timeout?: number;
    /**
     * More environment for the docker CLI: what `-e NAME` (without a value) hands a
     * container, so that a secret is never on a command line.
     */
    readonly env?: Record<string, string>;
}

/** The docker CLI on an engine, its output trimmed: what most questions to an engine want. */
export async function dockerText(
    dockerHost: string | undefined,
    args: readonly string[],
    options: DockerCallOptions = {},
): Promise<string> {
    return (await dockerOn(dockerHost, args, options)).stdout.trim();
}

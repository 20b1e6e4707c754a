import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { objectsOfStack } from "../support/docker";
import { portHolder } from "../../preflight/ports";
import { freePorts, PROJECT_DIR } from "../support/stack";

const execFileAsync = promisify(execFile);

/**
 * README command 1 exactly as a new user runs it: a fresh `git clone`, an empty
 * PGTOPO_HOME, and none of the settings this test run made for itself (no Pulumi backend,
 * passphrase or toolchain on PATH). Then `npm run status`, the README's own psql line,
 * `npm run destroy`, and nothing of the stack left. Also a second `up` on the now
 * existing PGTOPO_HOME, and a new stack (PGTOPO_STACK) as the README describes one.
 * Slow steps already done on this machine (the toolchain build, the base image) are
 * reused from their caches, as they would be for a second clone.
 */
describe("a newcomer's first contact, from a fresh clone", () => {
    const scratch = mkdtempSync(path.join(tmpdir(), "pgtopo-newcomer-"));
    const clone = path.join(scratch, "pgtopo");
    const home = path.join(scratch, "home");
    let stack = "dev";
    let env: NodeJS.ProcessEnv;

    /** Runs a command in the clone as the newcomer; resolves with its output and exit code. */
    const run = async (command: string, extraEnv: NodeJS.ProcessEnv = {}) => {
        const started = performance.now();
        const result = await execFileAsync("bash", ["-c", command], {
            cwd: clone,
            env: { ...env, ...extraEnv },
            maxBuffer: 64 << 20,
        }).then(
            ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
            (err: { code: number; stdout: string; stderr: string }) => ({
                code: err.code,
                stdout: err.stdout,
                stderr: err.stderr,
            }),
        );
        console.log(`[timing] newcomer: ${command}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
        return result;
    };
    const expectSuccess = (result: { code: number; stdout: string; stderr: string }) => {
        if (result.code !== 0) throw new Error(`exit ${result.code}\n${result.stdout}\n${result.stderr}`);
    };

    beforeAll(async () => {
        await execFileAsync("git", ["clone", "--quiet", PROJECT_DIR, clone]);
        // The newcomer's environment: this run's own Pulumi and pgtopo settings removed,
        // and the toolchain it put on PATH too, so that `npm run up` has to find it itself.
        const toolchainBin = path.join(process.env.PGTOPO_CACHE ?? "", "toolchain");
        env = Object.fromEntries(
            Object.entries(process.env).filter(
                ([key]) => !/^(PULUMI_|PGTOPO_|npm_|VITEST|NODE_OPTIONS$)/.test(key) || key === "PGTOPO_CACHE",
            ),
        );
        env.PATH = (process.env.PATH ?? "")
            .split(":")
            .filter((dir) => !dir.startsWith(toolchainBin))
            .join(":");
        env.PGTOPO_HOME = home;

        // The dev stack's names and ports are the README's. On a machine that already runs
        // a dev stack (a developer's), the same steps run on a stack of another name instead,
        // and on free ports where the README's are taken; CI has neither.
        const devObjects = await objectsOfStack("dev");
        if (devObjects.containers.length + devObjects.volumes.length > 0) {
            stack = "newcomer";
            console.log("a dev stack exists on this machine: the newcomer uses a stack named 'newcomer'");
        }
        const config = readFileSync(path.join(clone, "Pulumi.dev.yaml"), "utf8");
        const ports = [...config.matchAll(/port: (\d+)/g)].map((m) => Number(m[1]));
        const taken = (await Promise.all(ports.map(portHolder))).some(Boolean);
        const free = taken ? await freePorts(ports.length) : ports;
        if (taken) console.log(`the README's ports ${ports.join(", ")} are taken here: using ${free.join(", ")}`);
        if (stack !== "dev" || taken) {
            let text = config;
            ports.forEach((port, i) => (text = text.replace(`port: ${port}`, `port: ${free[i]}`)));
            writeFileSync(path.join(clone, `Pulumi.${stack}.yaml`), text);
        }
    });

    afterAll(async () => {
        // Whatever a failed step left: the stack's objects, then the scratch directory.
        if (env) await run("npm run destroy", { PGTOPO_STACK: stack }).catch(() => undefined);
        rmSync(scratch, { recursive: true, force: true });
    });

    it("README command 1 brings the dev stack up from nothing", async () => {
        const up = await run("npm run up", { PGTOPO_STACK: stack });
        expectSuccess(up);
        expect(up.stdout).toMatch(/Resources:\s+\+ \d+ created/);
        // The generated passphrase, in the new home and nowhere in the clone.
        expect(readFileSync(path.join(home, "passphrase"), "utf8")).toMatch(/^[A-Za-z0-9]{40}$/);
    });

    it("leaves no tracked file of the clone modified", async () => {
        const { stdout } = await execFileAsync("git", ["status", "--porcelain", "--untracked-files=no"], {
            cwd: clone,
        });
        expect(stdout).toBe("");
    });

    it("npm run status says healthy (exit 0)", async () => {
        const status = await run("npm run status", { PGTOPO_STACK: stack });
        expect(status.stdout).toContain("healthy: everything runs as configured");
        expect(status.code).toBe(0);
    });

    it("the README's psql line connects to the primary", async () => {
        // The connect command as the README prints it, its continuation lines joined.
        const lines = readFileSync(path.join(clone, "README.md"), "utf8").split("\n");
        let at = lines.findIndex((l) => l.startsWith('psql "$(scripts/pulumi.sh stack output connectionStrings'));
        expect(at).toBeGreaterThanOrEqual(0);
        let line = lines[at];
        while (line.endsWith("\\")) line = `${line.slice(0, -1)} ${lines[++at].trim()}`;
        const psql = await run(
            `${line.replace("--stack dev", `--stack ${stack}`)} -At -c "SELECT pg_is_in_recovery(), (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming')"`,
        );
        expectSuccess(psql);
        expect(psql.stdout.trim()).toBe("f|1");
    });

    it("a second `npm run up` with the same PGTOPO_HOME changes nothing", async () => {
        const again = await run("npm run up", { PGTOPO_STACK: stack });
        expectSuccess(again);
        expect(again.stdout).toMatch(/Resources:\s+\d+ unchanged/);
        expect(again.stdout).not.toMatch(/created|updated|replaced|deleted/);
    });

    it("another stack comes up beside it with PGTOPO_STACK, from its own Pulumi.<stack>.yaml", async () => {
        const ports = await freePorts(2);
        const dev = readFileSync(path.join(clone, `Pulumi.${stack}.yaml`), "utf8");
        const own = [...dev.matchAll(/port: (\d+)/g)].map((m) => m[1]);
        writeFileSync(
            path.join(clone, "Pulumi.qa.yaml"),
            own.reduce((text, port, i) => text.replace(`port: ${port}`, `port: ${ports[i]}`), dev),
        );
        try {
            expectSuccess(await run("npm run up", { PGTOPO_STACK: "qa" }));
            expect((await run("npm run status", { PGTOPO_STACK: "qa" })).code).toBe(0);
        } finally {
            expectSuccess(await run("npm run destroy", { PGTOPO_STACK: "qa" }));
        }
        expect(await objectsOfStack("qa")).toEqual({ containers: [], volumes: [], networks: [] });
        const { stdout } = await execFileAsync("git", ["status", "--porcelain", "--untracked-files=no"], {
            cwd: clone,
        });
        expect(stdout).toBe("");
    });

    it("npm run destroy leaves nothing of the stack: containers, volumes, network", async () => {
        expectSuccess(await run("npm run destroy", { PGTOPO_STACK: stack }));
        expect(await objectsOfStack(stack)).toEqual({ containers: [], volumes: [], networks: [] });
    });
});

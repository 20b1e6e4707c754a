import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapInNodeCommand, readyCommand } from "../../components/commands";
import { docker, NODE_IMAGE } from "../support/docker";
import { freePorts, PROJECT_DIR, TestStack } from "../support/stack";

const run = promisify(execFile);

/** scripts/node-ready.sh as a node's `-ready` Command runs it, until it exits. */
function readyGate(container: string): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn("sh", ["-c", `${readyCommand(container)} 60`], { cwd: PROJECT_DIR });
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("exit", (code) => resolve({ code: code ?? 1, stderr }));
    });
}

/** A node's bootstrap Command, as the provider runs it (sh -c), with `env` for the script. */
async function bootstrap(container: string, script: "pgtopo-init" | "pgtopo-clone", env: Record<string, string>) {
    const command = bootstrapInNodeCommand({ script, containerName: container, forwardEnv: Object.keys(env) });
    return run("sh", ["-c", command], { env: { ...process.env, ...env } }).then(
        () => 0,
        (err: { code?: number }) => err.code ?? 1,
    );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A node's readiness gate waits beside its bootstrap, not after it (components/node.ts):
 * it must end when the bootstrap fails, instead of waiting minutes for a server that will
 * not start, and must not mistake a failure left by an earlier `up` for this one's.
 */
describe("a node's readiness gate beside its bootstrap", () => {
    const id = randomBytes(3).toString("hex");
    const container = `pgtopo-readiness-${id}`;
    const secret = () =>
        randomBytes(24)
            .toString("base64")
            .replace(/[^A-Za-z0-9]/g, "")
            .slice(0, 24);
    const secrets = { PGTOPO_SUPERUSER_PASSWORD: secret(), PGTOPO_REPLICATION_PASSWORD: secret() };

    beforeAll(async () => {
        // The node image, as a stack of the suite makes it (on a fresh machine, this may be first).
        const image = await docker("image", "inspect", NODE_IMAGE).catch(() => "");
        if (!image) {
            const stack = await TestStack.create("readiness");
            const [port] = await freePorts(1);
            await stack.configure({ primary: "pg-1", nodes: [{ name: "pg-1", port }] });
            await stack.up();
            await stack.dispose();
        }
        // A node's container on an empty volume: it waits for a bootstrap (pgtopo-run).
        await docker(
            "run", "-d", "--name", container, "-v", `${container}:/var/lib/postgresql/data`,
            "-e", "PGTOPO_NODE=pg-1", "-e", `PGTOPO_REPLICATION_PASSWORD=${secrets.PGTOPO_REPLICATION_PASSWORD}`,
            NODE_IMAGE,
        ); // prettier-ignore
    }, 300_000);

    afterAll(async () => {
        await docker("rm", "-f", container).catch(() => undefined);
        await docker("volume", "rm", container).catch(() => undefined);
        await run("sh", ["-c", `rm -f "\${TMPDIR:-/tmp}/pgtopo-bootstrap-failed.${container}"`]);
    });

    it("stops waiting, and says why, when the bootstrap beside it fails", async () => {
        const gate = readyGate(container);
        await sleep(1500); // polling by now
        // A clone with no upstream given: pgtopo-clone refuses it before touching anything.
        expect(await bootstrap(container, "pgtopo-clone", {})).not.toBe(0);
        const started = Date.now();
        const { code, stderr } = await gate;
        expect(code).toBe(1);
        expect(stderr).toContain(`the bootstrap of ${container} failed`);
        // Well before its 60 s: it saw the failure, it did not time out.
        expect(Date.now() - started).toBeLessThan(15_000);
    }, 60_000);

    it("then ignores that earlier failure, and returns once the next bootstrap has started the server", async () => {
        await sleep(2500); // the failure above is now from "an earlier up"
        const gate = readyGate(container);
        await sleep(1000);
        expect(await bootstrap(container, "pgtopo-init", { ...secrets, PGTOPO_SETTINGS: "# none" })).toBe(0);
        const { code, stderr } = await gate;
        expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
        expect(await docker("exec", "-u", "postgres", container, "psql", "-XAtc", "SELECT pg_is_in_recovery()")).toBe(
            "f",
        );
    }, 60_000);
});

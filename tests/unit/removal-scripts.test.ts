import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { goneMarker, markGoneEngines } from "../../ops/docker";

const run = promisify(execFile);
const SCRIPTS = path.join(__dirname, "..", "..", "scripts");

/**
 * The removal steps' scripts (a node's `-removal`, the janitor, a slot's drop) against a
 * fake `docker` on PATH that records every call and answers `container inspect` as the
 * test says: what they ask of Docker, and what they leave alone, without an engine.
 */
describe("removal scripts", () => {
    let dir: string;
    let calls: string;
    const env = (extra: Record<string, string> = {}) => ({
        ...process.env,
        PATH: `${dir}:${process.env.PATH}`,
        PGTOPO_HOME: path.join(dir, "home"),
        FAKE_CALLS: calls,
        ...extra,
    });
    const script = (name: string, args: string[], extra: Record<string, string> = {}) =>
        run("bash", [path.join(SCRIPTS, name), ...args], { env: env(extra) });
    const called = () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n").filter(Boolean) : []);

    beforeEach(() => {
        dir = mkdtempSync(path.join(tmpdir(), "pgtopo-removal-"));
        calls = path.join(dir, "calls");
        // `container inspect` prints FAKE_LABEL (the generation label), or fails as for a
        // missing container when FAKE_MISSING is set; everything else succeeds silently.
        writeFileSync(
            path.join(dir, "docker"),
            [
                "#!/bin/bash",
                'echo "$*" >> "$FAKE_CALLS"',
                'if [ "$1 $2" = "container inspect" ]; then',
                '    [ -n "${FAKE_MISSING:-}" ] && { echo "Error: No such container: $5" >&2; exit 1; }',
                '    echo "${FAKE_LABEL:-}"',
                "fi",
            ].join("\n"),
        );
        chmodSync(path.join(dir, "docker"), 0o755);
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("stops a node's container cleanly, then removes it, and its volume when asked", async () => {
        const { stdout } = await script("remove-node.sh", ["pgtopo-s-pg-2", "", "pgtopo-s-pg-2-data"]);
        expect(called()).toEqual([
            `container inspect -f {{index .Config.Labels "pgtopo.generation"}} pgtopo-s-pg-2`,
            "stop -t 60 pgtopo-s-pg-2",
            "rm -f pgtopo-s-pg-2",
            "volume rm -f pgtopo-s-pg-2-data",
        ]);
        expect(stdout).toContain("pgtopo: pgtopo-s-pg-2 stopped and removed");
    });

    it("leaves a container of a later generation alone, and the volume it runs on", async () => {
        const { stdout } = await script("remove-node.sh", ["pgtopo-s-pg-2", "", "pgtopo-s-pg-2-data"], {
            FAKE_LABEL: "recreated-20261203T130000Z",
        });
        expect(called()).toHaveLength(1);
        expect(stdout).toContain("is a later one (generation recreated-20261203T130000Z, not none): left as it is");
    });

    it("finds nothing to remove where the container was removed by hand, and is content", async () => {
        const { stdout } = await script("remove-node.sh", ["pgtopo-s-pg-2", "recreated-1"], { FAKE_MISSING: "1" });
        expect(called()).toHaveLength(1);
        expect(stdout).toContain("pgtopo-s-pg-2 is not there; nothing to remove");
    });

    it("never contacts an engine marked gone, and says what it left there", async () => {
        const engine = "unix:///run/pgtopo-hosts/t2/docker.sock";
        process.env.PGTOPO_HOME = path.join(dir, "home");
        try {
            markGoneEngines([{ docker: engine, gone: true }]);
            expect(existsSync(goneMarker(engine))).toBe(true);
            const { stdout } = await script(
                "unless-gone.sh",
                ["container pgtopo-s-pg-2", "bash", path.join(SCRIPTS, "remove-node.sh"), "pgtopo-s-pg-2", ""],
                { DOCKER_HOST: engine },
            );
            expect(called()).toEqual([]);
            expect(stdout).toBe(
                `pgtopo: ${engine} is marked gone (pgtopo:hosts.NAME.gone), so it was not contacted: container pgtopo-s-pg-2 left there\n`,
            );
            // Back: unmarked, and the step runs again.
            markGoneEngines([{ docker: engine, gone: false }]);
            await script("unless-gone.sh", ["x", "docker", "ps"], { DOCKER_HOST: engine });
            expect(called()).toEqual(["ps"]);
        } finally {
            delete process.env.PGTOPO_HOME;
        }
    });

    it("drops a slot only on a running upstream", async () => {
        await script("drop-slot.sh", ["pgtopo-s-pg-1", "pgtopo_pg_2"], { FAKE_LABEL: "true" });
        expect(called()).toEqual([
            "container inspect -f {{.State.Running}} pgtopo-s-pg-1",
            "exec pgtopo-s-pg-1 pgtopo-slot drop pgtopo_pg_2",
        ]);
        rmSync(calls);
        const { stdout } = await script("drop-slot.sh", ["pgtopo-s-pg-1", "pgtopo_pg_2"], { FAKE_LABEL: "false" });
        expect(called()).toHaveLength(1);
        expect(stdout).toContain("pgtopo-s-pg-1 is not running; slot pgtopo_pg_2 not dropped");
    });
});

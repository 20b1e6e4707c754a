import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
    ENV,
    HOST,
    PATHS,
    renderContractShell,
    renderRouterContractShell,
    ROUTER,
    ROUTER_SCRIPTS,
    SCRIPTS,
} from "../../contract/image";
import { dockerCertDir } from "../../ops/docker";
import { splitEndpoint } from "../../planning/topology";

const ROOT = path.join(__dirname, "..", "..");
const IMAGE = path.join(ROOT, "images", "postgres");
const read = (...parts: string[]) => readFileSync(path.join(...parts), "utf8");
/** A shell script without its comment lines: what it does, not what it says. */
const code = (text: string) =>
    text
        .split("\n")
        .filter((line) => !/^\s*#/.test(line))
        .join("\n");
const imageScripts = () => [
    ...readdirSync(path.join(IMAGE, "bin")).map((f) => path.join(IMAGE, "bin", f)),
    path.join(IMAGE, "lib", "common.sh"),
];
const programSources = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
            ? programSources(path.join(dir, e.name))
            : e.name.endsWith(".ts")
              ? [path.join(ROOT, dir, e.name)]
              : [],
    );

/**
 * Issue 20: one contract between the node image and the program (contract/image.ts). The
 * image reads it from a generated file; these checks fail when that file is stale, or when
 * a script of either side uses a path or a name of the contract's that the contract lacks.
 */
describe("the contract between the node image and the program", () => {
    it("is what the image reads: lib/contract.sh is generated from it and up to date (npm run contract)", () => {
        expect(read(IMAGE, "lib", "contract.sh")).toBe(renderContractShell());
    });

    it("is what the Dockerfile sets: the volume, the data directory, the scripts' library", () => {
        const dockerfile = read(IMAGE, "Dockerfile");
        expect(dockerfile).toContain(`${ENV.volume}=${PATHS.volume} \\`);
        expect(dockerfile).toContain(`${ENV.pgdata}=${PATHS.pgdata}`);
        expect(dockerfile).toContain("COPY lib/ /usr/local/lib/pgtopo/");
        for (const script of imageScripts()) {
            const library = script.endsWith("common.sh") ? "contract.sh" : "common.sh";
            expect(code(read(script)), path.basename(script)).toContain(`source /usr/local/lib/pgtopo/${library}`);
        }
    });

    it("names every script of the image, and the program runs none that is not there", () => {
        expect(readdirSync(path.join(IMAGE, "bin")).sort()).toEqual(Object.values(SCRIPTS).sort());
        const named = new Set(Object.values(SCRIPTS) as string[]);
        for (const file of [
            ...programSources("ops"),
            ...programSources("components"),
            ...programSources("preflight"),
        ]) {
            for (const [name] of read(file).matchAll(
                /\bpgtopo-(?:init|clone|restore|slot|follow|configure|rewind|set-aside|checkpoint-lsn|backup|tls|run)\b/g,
            )) {
                expect(named.has(name), `${path.relative(ROOT, file)}: ${name}`).toBe(true);
            }
        }
    });

    it("is the only place of its paths: no script of the image writes one out", () => {
        for (const script of imageScripts()) {
            const text = code(read(script));
            for (const value of Object.values(PATHS)) {
                // Whole paths only: /var/lib/postgresql is a prefix of the volume's.
                const literal = new RegExp(`${value.replace(/[/.-]/g, "\\$&")}(?![\\w/.-])`);
                expect(literal.test(text), `${path.basename(script)} writes out ${value}`).toBe(false);
            }
        }
    });

    it("lists every variable the program hands to the image, and the image reads no other", () => {
        const handed = new Set<string>(Object.values(ENV));
        const generated = new Set([...renderContractShell().matchAll(/readonly (\w+)=/g)].map((m) => m[1]));
        for (const script of imageScripts()) {
            const text = code(read(script));
            // Set by the script itself (its arguments, say): its own, not the contract's.
            const own = new Set([...text.matchAll(/\b(PGTOPO_\w+)=/g)].map((m) => m[1]));
            for (const [name] of text.matchAll(/\bPGTOPO_\w+/g)) {
                if (own.has(name) || generated.has(name)) continue;
                expect(handed.has(name), `${path.basename(script)} reads ${name}`).toBe(true);
            }
        }
    });

    it("is the only place of the program's own marks: no script or module writes their paths out", () => {
        const marker = "pgtopo-bootstrap-failed";
        const hostScripts = readdirSync(path.join(ROOT, "scripts"))
            .filter((f) => f.endsWith(".sh"))
            .map((f) => path.join(ROOT, "scripts", f));
        for (const file of [...hostScripts, ...programSources("ops"), ...programSources("components")]) {
            const text = file.endsWith(".sh") ? code(read(file)) : read(file);
            expect(text.includes(marker), `${path.relative(ROOT, file)} writes out ${marker}`).toBe(false);
            expect(
                /["'/]docker-tls\b|\/gone\//.test(text),
                `${path.relative(ROOT, file)} writes out a PGTOPO_HOME directory`,
            ).toBe(false);
        }
        expect(HOST.bootstrapFailedMarkerPrefix).toContain(marker);
    });

    it("reads an endpoint the same way on both sides (planning/topology.ts and common.sh)", () => {
        const common = read(IMAGE, "lib", "common.sh");
        const fn = (name: string) => common.match(new RegExp(`^${name}\\(\\) \\{.*\\}$`, "m"))![0];
        for (const endpoint of ["pg-1", "10.0.0.11:5433", "db-2:6432"]) {
            const shell = execFileSync("bash", ["-c", `${fn("endpoint_host")}\n${fn("endpoint_port")}\nendpoint_host "$1"; echo; endpoint_port "$1"`, "-", endpoint], { encoding: "utf8" }); // prettier-ignore
            const [host, port] = shell.trim().split("\n");
            expect({ host, port: Number(port) }, endpoint).toEqual(splitEndpoint(endpoint));
        }
    });

    it("derives a tcp:// engine's certificate directory the same way on both sides (ops/docker.ts and docker-env.sh)", () => {
        const url = "tcp://10.250.0.13:2376";
        const home = "/tmp/pgtopo-contract-home";
        const shell = execFileSync(
            "bash",
            [
                "-c",
                `source scripts/docker-env.sh; docker() { echo "$DOCKER_CERT_PATH"; }; docker_on "$1" version`,
                "-",
                url,
            ],
            { cwd: ROOT, encoding: "utf8", env: { ...process.env, PGTOPO_HOME: home } },
        );
        process.env.PGTOPO_HOME = home;
        try {
            expect(shell.trim()).toBe(dockerCertDir(url));
        } finally {
            delete process.env.PGTOPO_HOME;
        }
    });

    describe("the router image's part (images/pgbouncer)", () => {
        const ROUTER_IMAGE = path.join(ROOT, "images", "pgbouncer");
        const routerScripts = () => [
            ...readdirSync(path.join(ROUTER_IMAGE, "bin")).map((f) => path.join(ROUTER_IMAGE, "bin", f)),
            path.join(ROUTER_IMAGE, "lib", "router.sh"),
        ];

        it("is what the router reads: lib/contract.sh is generated and up to date, and its scripts are the contract's", () => {
            expect(read(ROUTER_IMAGE, "lib", "contract.sh")).toBe(renderRouterContractShell());
            expect(readdirSync(path.join(ROUTER_IMAGE, "bin")).sort()).toEqual(Object.values(ROUTER_SCRIPTS).sort());
            expect(code(read(ROUTER_IMAGE, "lib", "router.sh"))).toContain(
                "source /usr/local/lib/pgtopo-router/contract.sh",
            );
        });

        it("writes out none of its shared paths, and reads only the variables the program hands it", () => {
            const handed = new Set<string>(Object.values(ROUTER.env));
            for (const script of routerScripts()) {
                const text = code(read(script));
                for (const value of [ROUTER.paths.runtime, ROUTER.paths.targets]) {
                    expect(text.includes(value), `${path.basename(script)} writes out ${value}`).toBe(false);
                }
                const own = new Set([...text.matchAll(/\b(PGTOPO_\w+)=/g)].map((m) => m[1]));
                for (const [name] of text.matchAll(/\bPGTOPO_\w+/g)) {
                    if (!own.has(name)) expect(handed.has(name), `${path.basename(script)} reads ${name}`).toBe(true);
                }
            }
        });
    });
});

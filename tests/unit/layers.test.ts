import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.join(__dirname, "..", "..");

/**
 * Issue 20: the layers point one way. Names, labels and the image contract at the bottom
 * (contract/), then the config's pure shape (config/), pure planning (planning/), what
 * touches Docker and the running cluster (preflight/, ops/: one level), the Pulumi
 * components (components/), and the program and its scripts on top. A module may import
 * from its own layer and the ones below, never from one above.
 */
const LAYERS: Record<string, number> = {
    contract: 0,
    config: 1,
    planning: 2,
    preflight: 3,
    ops: 3,
    components: 4,
    program: 5,
    scripts: 5,
    bench: 5,
    "index.ts": 5,
    // The tests' support (stacks, writers, a fake cluster), which the benches use too.
    tests: 5,
};

const sources = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? sources(path.join(dir, e.name)) : /\.(ts|cjs)$/.test(e.name) ? [path.join(dir, e.name)] : [],
    );

/** The layer a repository path is in (its top directory, or index.ts). */
const layerOf = (file: string) => LAYERS[file.split(path.sep)[0]];

describe("the layers of the code", () => {
    const files = [
        ...Object.keys(LAYERS)
            .filter((d) => !["index.ts", "tests"].includes(d))
            .flatMap(sources),
        "index.ts",
    ];

    it.each(files)("%s imports nothing from a layer above its own", (file) => {
        const own = layerOf(file);
        const text = readFileSync(path.join(ROOT, file), "utf8");
        for (const [, spec] of text.matchAll(/(?:from|import|require\()\s*["'](\.{1,2}\/[^"']+)["']/g)) {
            const target = path.relative(ROOT, path.join(ROOT, path.dirname(file), spec));
            const theirs = layerOf(target) ?? (target === "index" ? LAYERS["index.ts"] : undefined);
            expect(theirs, `${file} imports ${spec}, outside every layer`).toBeDefined();
            expect(theirs! <= own, `${file} (layer ${own}) imports ${target} (layer ${theirs})`).toBe(true);
        }
    });

    it("keeps config and planning pure: neither reaches Docker, a process or Pulumi", () => {
        for (const file of [...sources("config"), ...sources("planning")]) {
            const text = readFileSync(path.join(ROOT, file), "utf8");
            expect(text, file).not.toMatch(/from "node:child_process"|from "@pulumi\/|require\("child_process"\)/);
        }
    });
});

import { describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../config";
import { versionProblems, type RunningMajor } from "../../preflight/version";

describe("postgresVersion of an existing stack", () => {
    const running = (majors: RunningMajor[]) => async (): Promise<RunningMajor[]> => majors;

    it("accepts the version the nodes run, and a stack with no nodes yet", async () => {
        const same = running([
            { node: "pg-1", major: "15" },
            { node: "pg-2", major: "15" },
        ]);
        expect(await versionProblems("dev", "15", same)).toEqual([]);
        expect(await versionProblems("dev", "17", running([]))).toEqual([]);
    });

    it("refuses a major upgrade, naming the current and the requested version", async () => {
        const problems = await versionProblems(
            "dev",
            "17",
            running([
                { node: "pg-2", major: "15" },
                { node: "pg-1", major: "15" },
            ]),
        );
        expect(problems).toEqual([
            'pgtopo:postgresVersion: "17" is not allowed for stack dev: its nodes run PostgreSQL 15 (pg-1, pg-2), and major upgrades by config are not supported yet (npm run upgrade-check -- --to 17 says whether pg_upgrade would take this cluster there); allowed: "15"',
        ]);
    });

    it("refuses a downgrade, saying PostgreSQL has none", async () => {
        const problems = await versionProblems("dev", "15", running([{ node: "pg-1", major: "17" }]));
        expect(problems).toEqual([
            'pgtopo:postgresVersion: "15" is not allowed for stack dev: its nodes run PostgreSQL 17 (pg-1), and PostgreSQL has no downgrade (restore a backup into a new stack instead); allowed: "17"',
        ]);
    });
});

describe("base image", () => {
    const nodes = [{ name: "pg-1", port: 15432 }];

    it("defaults to pgtopo's own Debian image of the release that ships the version", () => {
        expect(parseClusterConfig({ primary: "pg-1", nodes }).baseImage).toBe("pgtopo/debian:bookworm");
        expect(parseClusterConfig({ primary: "pg-1", nodes, postgresVersion: "17" }).baseImage).toBe(
            "pgtopo/debian:trixie",
        );
    });

    it("keeps one the user names", () => {
        const config = parseClusterConfig({ primary: "pg-1", nodes, postgresVersion: "17", baseImage: "debian:13" });
        expect(config.baseImage).toBe("debian:13");
    });
});

import { describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../config";
import { backupEnvironment } from "../../planning/backup";
import { repositoryHostEnvironment, serverPort } from "../../planning/repository-host";
import { restoreProblems, type RepositorySource, type RestoreProbe } from "../../preflight/restore";

const hosts = {
    db1: { docker: "ssh://a@db1", address: "10.0.0.11" },
    db2: { docker: "ssh://a@db2", address: "10.0.0.12" },
    db3: { docker: "ssh://a@db3", address: "10.0.0.13" },
};
const nodesOnHosts = [
    { name: "pg-1", port: 5432, host: "db1" },
    { name: "pg-2", port: 5432, host: "db2" },
];
const refusal = (raw: Record<string, unknown>) => {
    try {
        parseClusterConfig(raw);
    } catch (err) {
        return (err as Error).message;
    }
    return "accepted";
};

describe("pgtopo:backup.repositoryHost, the config", () => {
    it("takes no host on one machine, and requires one of pgtopo:hosts across hosts", () => {
        const one = parseClusterConfig({ primary: "pg-1", nodes: [{ name: "pg-1", port: 15432 }], backup: { repositoryHost: {} } }); // prettier-ignore
        expect(one.backup?.repositoryHost).toEqual({ port: 8432 });
        expect(
            refusal({
                primary: "pg-1",
                nodes: [{ name: "pg-1", port: 15432 }],
                backup: { repositoryHost: { host: "db3" } },
            }),
        ).toContain(
            // prettier-ignore
            'pgtopo:backup.repositoryHost.host: "db3" is allowed only with pgtopo:hosts; on one machine the repository container runs on the local engine (remove host)',
        );
        expect(refusal({ primary: "pg-1", hosts, nodes: nodesOnHosts, backup: { repositoryHost: {} } })).toContain(
            'pgtopo:backup.repositoryHost.host is required with pgtopo:hosts: the host the repository runs on; allowed: "db1", "db2", "db3"',
        );
        expect(
            refusal({ primary: "pg-1", hosts, nodes: nodesOnHosts, backup: { repositoryHost: { host: "db9" } } }),
        ).toContain(
            // prettier-ignore
            'pgtopo:backup.repositoryHost.host: "db9" is not in pgtopo:hosts; allowed: "db1", "db2", "db3"',
        );
        expect(refusal({ primary: "pg-1", hosts, nodes: nodesOnHosts, backup: { repositoryHost: { host: "db3" } } })).toBe("accepted"); // prettier-ignore
    });

    it("refuses two parts of pgBackRest on one host across hosts, since they share one port", () => {
        expect(
            refusal({ primary: "pg-1", hosts, nodes: nodesOnHosts, backup: { repositoryHost: { host: "db2" } } }),
        ).toContain(
            // prettier-ignore
            "pgtopo:backup.repositoryHost: pg-2 and the repository are all on host db2, where each would publish pgBackRest's server on port 8432; allowed: one node per host, and the repository on a host without a node",
        );
        expect(
            refusal({
                primary: "pg-1",
                hosts,
                nodes: nodesOnHosts,
                backup: { repositoryHost: { host: "db3", port: 5432 } },
            }),
        ).toContain(
            // prettier-ignore
            "pgtopo:backup.repositoryHost.port: 5432 is node pg-1's PostgreSQL port; allowed: another port",
        );
    });

    it("refuses it with s3, a bad port, and a node of its name", () => {
        const s3 = { endpoint: "10.0.0.9:8333", bucket: "pg-backups", accessKey: "AKID", secretKey: "s3cr3t-key" };
        const nodes = [{ name: "pg-1", port: 15432 }];
        expect(refusal({ primary: "pg-1", nodes, backup: { s3, repositoryHost: {} } })).toContain(
            "pgtopo:backup: s3 and repositoryHost are two kinds of repository; allowed: one of them (or neither, for a volume on this machine)",
        );
        expect(refusal({ primary: "pg-1", nodes, backup: { repositoryHost: { port: 80 } } })).toContain(
            "pgtopo:backup.repositoryHost.port: 80 is not allowed",
        );
        expect(
            refusal({
                primary: "repository",
                nodes: [{ name: "repository", port: 15432 }],
                backup: { repositoryHost: {} },
            }),
        ).toContain(
            // prettier-ignore
            'pgtopo:nodes[0].name: "repository" is the name of the stack\'s repository host with pgtopo:backup.repositoryHost; give the node another name',
        );
    });
});

describe("pgtopo:backup.repositoryHost, pgBackRest's settings", () => {
    it("points every node at the repository's TLS server with the stack's client certificate, and mounts nothing", () => {
        const config = parseClusterConfig({ primary: "pg-1", hosts, nodes: nodesOnHosts, backup: { repositoryHost: { host: "db3", port: 8500 } } }); // prettier-ignore
        expect(serverPort(config)).toBe(8500);
        expect(backupEnvironment(config.backup!, "prod", true)).toMatchObject({
            PGBACKREST_REPO1_HOST: "repository",
            PGBACKREST_REPO1_HOST_TYPE: "tls",
            PGBACKREST_REPO1_HOST_PORT: "8500",
            PGBACKREST_REPO1_HOST_CERT_FILE: "/etc/pgtopo/tls/client.crt",
            PGBACKREST_REPO1_HOST_KEY_FILE: "/etc/pgtopo/tls/client.key",
            PGBACKREST_REPO1_HOST_CA_FILE: "/etc/pgtopo/tls/ca.crt",
        });
        // On one machine, the container's own port on the stack's network.
        const one = parseClusterConfig({ primary: "pg-1", nodes: [{ name: "pg-1", port: 15432 }], backup: { repositoryHost: {} } }); // prettier-ignore
        expect(backupEnvironment(one.backup!, "dev")).toMatchObject({ PGBACKREST_REPO1_HOST_PORT: "8432" });
    });

    it("gives the repository every node as pg1..pgN, and lets in only the stack's client", () => {
        const config = parseClusterConfig({ primary: "pg-1", hosts, nodes: nodesOnHosts, backup: { repositoryHost: { host: "db3" } } }); // prettier-ignore
        const env = repositoryHostEnvironment(config.backup!, ["pg-1", "pg-2"], 8432);
        expect(env).toMatchObject({
            PGBACKREST_REPO1_PATH: "/var/lib/pgbackrest",
            PGBACKREST_TLS_SERVER_AUTH: "pgtopo-backup=pgtopo",
            PGBACKREST_TLS_SERVER_CERT_FILE: "/etc/pgtopo/tls/repository.crt",
            PGBACKREST_PG1_HOST: "pg-1",
            PGBACKREST_PG2_HOST: "pg-2",
            PGBACKREST_PG2_HOST_TYPE: "tls",
            PGBACKREST_PG2_PATH: "/var/lib/postgresql/data/pgdata",
        });
        expect(env).not.toHaveProperty("PGBACKREST_PG3_HOST");
    });
});

describe("pgtopo:restore from a repository host across hosts", () => {
    const restoring = (backup?: Record<string, unknown>) =>
        refusal({ primary: "pg-1", hosts, nodes: nodesOnHosts, ...(backup ? { backup } : {}), restore: { fromStack: "prod" } }); // prettier-ignore

    it("is accepted with a repository host, refused without one or an object store, naming both", () => {
        expect(restoring({ repositoryHost: { host: "db3" } })).toBe("accepted");
        expect(restoring()).toContain(
            "pgtopo:restore: with pgtopo:hosts the source must be where this stack can read it: set pgtopo:backup.s3 to the object store the source stack backs up into, or pgtopo:backup.repositoryHost to the host that holds the source's repository volume",
        );
    });

    it("looks for the source's volume on the repository host's engine and reads its window there", async () => {
        const config = parseClusterConfig({ primary: "pg-1", hosts, nodes: nodesOnHosts, backup: { repositoryHost: { host: "db3" } }, restore: { fromStack: "prod" } }); // prettier-ignore
        const asked: [string, string | undefined][] = [];
        const reads: [RepositorySource, string | undefined][] = [];
        const probe = (volumes: string[]): RestoreProbe => ({
            volumeExists: async (name, engine) => (asked.push([name, engine]), volumes.includes(name)),
            stacksWithBackups: async (engine) => (engine === "ssh://a@db3" ? ["staging"] : ["elsewhere"]),
            readRepository: async (source, _image, engine) => (reads.push([source, engine]), "no backup"),
        });
        expect(await restoreProblems("qa", config, probe([]))).toEqual([
            'pgtopo:restore.fromStack: "prod" has no backup repository on host db3 (pgtopo:backup.repositoryHost.host) (no volume pgtopo-prod-backups); allowed: "staging"',
        ]);
        // The primary's data first (on its own host), then the source on the repository's.
        expect(asked).toEqual([
            ["pgtopo-qa-pg-1-data", "ssh://a@db1"],
            ["pgtopo-prod-backups", "ssh://a@db3"],
        ]);
        expect(await restoreProblems("qa", config, probe(["pgtopo-prod-backups"]))).toEqual([
            "pgtopo:restore.fromStack: \"prod\" has no backup yet; take one with 'npm run backup' on that stack",
        ]);
        expect(reads).toEqual([[{ kind: "volume", volume: "pgtopo-prod-backups" }, "ssh://a@db3"]]);
    });
});

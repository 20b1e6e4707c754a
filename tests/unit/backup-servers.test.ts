import { describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../config";
import { planBackupServers } from "../../planning/backup-servers";
import { renderSettings } from "../../planning/settings";
import { planTopology } from "../../planning/topology";

/**
 * pgtopo:backup.s3 across pgtopo:hosts: a backup on the primary reads a standby on another
 * host through that standby's published pgBackRest server (planning/backup-servers.ts).
 */
const hosts = {
    db1: { docker: "ssh://a@db1", address: "10.0.0.11" },
    db2: { docker: "ssh://a@db2", address: "10.0.0.12" },
    db3: { docker: "ssh://a@db3", address: "10.0.0.13" },
};
const s3 = { endpoint: "10.0.0.9:8333", bucket: "pg-backups", accessKey: "AKID", secretKey: "s3cr3t-key" };
const refusal = (raw: Record<string, unknown>) => {
    try {
        const config = parseClusterConfig(raw);
        planTopology(config, "prod");
    } catch (err) {
        return (err as Error).message;
    }
    return "accepted";
};

describe("pgtopo:backup.s3 across hosts: where a backup reads a standby", () => {
    const nodes = [
        { name: "pg-1", port: 5432, host: "db1" },
        { name: "pg-2", port: 5432, host: "db2" },
        { name: "pg-3", port: 5433, host: "db3" },
        { name: "pg-4", port: 5434, host: "db3" },
    ];

    it("publishes the server of a node alone on its host, and not of nodes that share one", () => {
        const servers = planBackupServers(parseClusterConfig({ primary: "pg-1", hosts, nodes, backup: { s3 } }))!;
        expect([...servers.published]).toEqual([
            ["pg-1", { address: "10.0.0.11", port: 8432 }],
            ["pg-2", { address: "10.0.0.12", port: 8432 }],
        ]);
        expect(servers.setting).toBe("pg-1=10.0.0.11:8432 pg-2=10.0.0.12:8432 pg-3=10.0.0.13 pg-4=10.0.0.13");
        expect(servers.note).toBe(
            "backups read a standby's files through its pgBackRest server; pg-3, pg-4 share host db3, so their servers are not published there (one port, 8432, per host): a backup reads them only when the primary is on the same host, and reads the primary's own files otherwise",
        );
    });

    it("puts the map in every node's pgtopo.conf, which a reload applies, on the port the config names", () => {
        const config = parseClusterConfig({ primary: "pg-1", hosts, nodes: nodes.slice(0, 2), backup: { s3, serverPort: 9432 } }); // prettier-ignore
        const settings = renderSettings(config, planTopology(config, "prod"));
        expect(settings).toContain("pgtopo.backup_servers = 'pg-1=10.0.0.11:9432 pg-2=10.0.0.12:9432'\n");
        expect(planBackupServers(config)?.note).toBeUndefined();
    });

    it("is not planned on one machine, without backups, or with a repository host (which reaches the nodes itself)", () => {
        const one = parseClusterConfig({ primary: "pg-1", nodes: [{ name: "pg-1", port: 15432 }], backup: { s3 } });
        expect(planBackupServers(one)).toBeUndefined();
        expect(renderSettings(one, planTopology(one, "prod"))).not.toContain("pgtopo.backup_servers");
        expect(planBackupServers(parseClusterConfig({ primary: "pg-1", hosts, nodes: nodes.slice(0, 2) }))).toBeUndefined(); // prettier-ignore
        const withHost = parseClusterConfig({ primary: "pg-1", hosts, nodes: nodes.slice(0, 2), backup: { repositoryHost: { host: "db3" } } }); // prettier-ignore
        expect(planBackupServers(withHost)).toBeUndefined();
    });

    it("refuses a port a published node's host already uses, and serverPort where it means nothing", () => {
        expect(refusal({ primary: "pg-1", hosts, nodes, backup: { s3, serverPort: 5432 } })).toContain(
            "pgtopo:backup.serverPort: 5432 is node pg-1's PostgreSQL port on host db1, where its pgBackRest server is published too; allowed: another port",
        );
        // pg-3 and pg-4 are not published: their ports are free for it on db3.
        expect(refusal({ primary: "pg-1", hosts, nodes, backup: { s3, serverPort: 5433 } })).toBe("accepted");
        const onDefault = [{ name: "pg-1", port: 8432, host: "db1" }, { name: "pg-2", port: 5432, host: "db2" }]; // prettier-ignore
        expect(refusal({ primary: "pg-1", hosts, nodes: onDefault, backup: { s3 } })).toContain(
            "pgtopo:backup.serverPort (default 8432) is node pg-1's PostgreSQL port on host db1, where its pgBackRest server is published too; allowed: another port",
        );
        expect(
            refusal({ primary: "pg-1", hosts, nodes, backup: { s3, serverPort: 6432 }, endpoints: { rw: { port: 6432 } } }),
        ).toContain("pgtopo:backup.serverPort: 6432 is the port of pgtopo:endpoints.rw on every host; allowed: another port"); // prettier-ignore
        expect(
            refusal({ primary: "pg-1", hosts, nodes: nodes.slice(0, 2), backup: { repositoryHost: { host: "db3" }, serverPort: 9432 } }), // prettier-ignore
        ).toContain(
            "pgtopo:backup.serverPort: 9432 is not allowed with pgtopo:backup.repositoryHost, whose port the nodes' servers are published on; allowed: pgtopo:backup.repositoryHost.port (remove serverPort)",
        );
        expect(refusal({ primary: "pg-1", nodes: [{ name: "pg-1", port: 15432 }], backup: { s3, serverPort: 9432 } })).toContain(
            "pgtopo:backup.serverPort: 9432 is allowed only with pgtopo:hosts; on one machine every node's pgBackRest server is reached on the stack's network and nothing is published (remove serverPort)",
        ); // prettier-ignore
        expect(refusal({ primary: "pg-1", hosts, nodes, backup: { s3, serverPort: 80 } })).toContain(
            "pgtopo:backup.serverPort: 80 is not allowed",
        );
        expect(
            refusal({ primary: "pg-1", hosts, nodes: nodes.slice(0, 2), backup: { repositoryHost: { host: "db3", port: 6432 } }, endpoints: { rw: { port: 6432 } } }), // prettier-ignore
        ).toContain("pgtopo:backup.repositoryHost.port: 6432 is the port of pgtopo:endpoints.rw on every host; allowed: another port"); // prettier-ignore
    });

    it("lists every key of pgtopo:backup when one is unknown", () => {
        expect(refusal({ primary: "pg-1", nodes: [{ name: "pg-1", port: 15432 }], backup: { serverport: 9432 } })).toContain(
            'pgtopo:backup: unknown key "serverport"; allowed keys are retention, schedule, deleteBackupsOnDestroy, standbysFrom, s3, repositoryHost, archiveAsync, serverPort',
        ); // prettier-ignore
    });
});

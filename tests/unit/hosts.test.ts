import { describe, expect, it } from "vitest";
import { ConfigError, parseClusterConfig } from "../../config";
import { peersOf } from "../../ops/observe";
import { planConvergence } from "../../planning/convergence";
import { observed } from "../support/observations";
import { nodesSummary, planTopology, splitEndpoint } from "../../planning/topology";

const hosts = {
    db1: { docker: "ssh://admin@db1", address: "10.0.0.11" },
    db2: { docker: "ssh://admin@db2", address: "10.0.0.12" },
    db3: { docker: "unix:///run/db3/docker.sock", address: "10.0.0.13" },
};
const PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const cascade = {
    primary: "a",
    hosts,
    nodes: [
        { name: "a", port: 5433, host: "db1" },
        { name: "b", port: 5434, host: "db2" },
        { name: "c", port: 5435, host: "db3", upstream: "b" },
    ],
};

function problemsOf(raw: Record<string, unknown>): readonly string[] {
    try {
        planTopology(parseClusterConfig(raw), "unit");
    } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
    }
    throw new Error("expected a ConfigError");
}

describe("pgtopo:hosts", () => {
    it("places each node on its host, reached on the host's address and its port", () => {
        const plan = planTopology(parseClusterConfig(cascade), "unit");
        const c = plan.nodes.find((n) => n.name === "c")!;
        expect(c).toMatchObject({
            host: "db3",
            dockerHost: "unix:///run/db3/docker.sock",
            address: "10.0.0.13",
            endpoint: "10.0.0.13:5435",
            upstream: "b",
        });
        expect(nodesSummary(plan).b).toEqual({
            role: "standby",
            port: 5434,
            upstream: "a",
            host: "db2",
            dockerHost: "ssh://admin@db2",
            address: "10.0.0.12",
            endpoint: "10.0.0.12:5434",
        });
    });

    it("lets nodes on different hosts share a port, but not nodes on the same host", () => {
        const samePort = cascade.nodes.map((n) => ({ ...n, port: 5433 }));
        expect(
            planTopology(parseClusterConfig({ ...cascade, nodes: samePort }), "unit").nodes.map((n) => n.endpoint),
        ).toEqual(["10.0.0.11:5433", "10.0.0.12:5433", "10.0.0.13:5433"]);
        const twoOnDb2 = [...samePort, { name: "d", port: 5433, host: "db2" }];
        expect(problemsOf({ ...cascade, nodes: twoOnDb2 })).toEqual([
            "pgtopo:nodes[1], [3].port: 5433 is used by more than one node on host db2; each node needs its own port on host db2",
        ]);
    });

    it("turns TLS on by default with hosts, and leaves it off on one machine", () => {
        expect(parseClusterConfig(cascade).tls).toBe(true);
        expect(parseClusterConfig({ primary: "a", nodes: [{ name: "a", port: 5433 }] }).tls).toBe(false);
    });

    it("maps what a WAL receiver reports back to node names", () => {
        const peers = peersOf([
            { name: "a", endpoint: "10.0.0.11:5433" },
            { name: "b", endpoint: "pg-b" },
        ]);
        expect(peers.get("10.0.0.11:5433")).toBe("a");
        expect(peers.get("pg-b:5432")).toBe("b");
        expect(splitEndpoint("10.0.0.11:5433")).toEqual({ host: "10.0.0.11", port: 5433 });
        expect(splitEndpoint("pg-b")).toEqual({ host: "pg-b", port: 5432 });
    });

    it.each([
        [
            "plaintext between hosts",
            { ...cascade, tls: false },
            "pgtopo:tls: false is not allowed with pgtopo:hosts; replication between hosts is always encrypted (remove pgtopo:tls or set it to true)",
        ],
        [
            "a node without a host",
            { ...cascade, nodes: [...cascade.nodes.slice(0, 2), { name: "c", port: 5435 }] },
            'pgtopo:nodes[2] (c).host is required with pgtopo:hosts: the host this node runs on; allowed: "db1", "db2", "db3"',
        ],
        [
            "a host that is not listed",
            { ...cascade, nodes: [...cascade.nodes.slice(0, 2), { name: "c", port: 5435, host: "db9" }] },
            'pgtopo:nodes[2] (c).host: "db9" is not in pgtopo:hosts; allowed: "db1", "db2", "db3"',
        ],
        [
            "a host without pgtopo:hosts",
            { primary: "a", nodes: [{ name: "a", port: 5433, host: "db1" }] },
            'pgtopo:nodes[0] (a).host: "db1" is not allowed without pgtopo:hosts, which says how to reach each host\'s Docker engine',
        ],
        [
            "a tcp:// engine without TLS",
            { ...cascade, hosts: { ...hosts, db1: { docker: "tcp://10.0.0.11:2376", address: "10.0.0.11" } } },
            "pgtopo:hosts.db1.tls is required for tcp://10.0.0.11:2376: { ca, cert, key } as secrets (a Docker API without TLS is root on that host for anyone who reaches it)",
        ],
        [
            "an engine URL of another scheme",
            { ...cascade, hosts: { ...hosts, db1: { docker: "http://db1:2375", address: "10.0.0.11" } } },
            'pgtopo:hosts.db1.docker: "http://db1:2375" is not allowed; it must be a Docker engine URL: ssh://admin@db1, tcp://10.0.0.11:2376 (with tls) or unix:///run/docker.sock',
        ],
        [
            "TLS material that is not PEM, without echoing it",
            { ...cascade, hosts: { ...hosts, db1: { docker: "tcp://10.0.0.11:2376", address: "10.0.0.11", tls: { ca: PEM_CERT, cert: PEM_CERT, key: "hunter2-secret" } } } }, // prettier-ignore
            "pgtopo:hosts.db1.tls.key must be the PEM text of the client private key",
        ],
        [
            "TLS material for an ssh:// engine",
            { ...cascade, hosts: { ...hosts, db1: { ...hosts.db1, tls: { ca: PEM_CERT, cert: PEM_CERT, key: PEM_CERT } } } }, // prettier-ignore
            "pgtopo:hosts.db1.tls: allowed only for a tcp:// engine; ssh://admin@db1 brings its own security (remove tls)",
        ],
        [
            "an address that is not an IPv4 address",
            { ...cascade, hosts: { ...hosts, db2: { docker: "ssh://db2", address: "db2.example" } } },
            'pgtopo:hosts.db2.address: "db2.example" is not allowed; it must be the IPv4 address the other hosts reach this one on, such as 10.0.0.11',
        ],
        [
            "two hosts on one address",
            { ...cascade, hosts: { ...hosts, db3: { docker: "ssh://db3", address: "10.0.0.12" } } },
            'pgtopo:hosts: "db2" and "db3" have the same address 10.0.0.12; each host needs its own',
        ],
        [
            "an unknown host key",
            { ...cascade, hosts: { ...hosts, db3: { docker: "ssh://db3", address: "10.0.0.13", user: "x" } } },
            'pgtopo:hosts.db3: unknown key "user"; allowed keys are docker, address, tls, gone',
        ],
        [
            "backups across hosts",
            { ...cascade, backup: {} },
            "pgtopo:backup: with pgtopo:hosts the repository must be one every host reaches: set pgtopo:backup.s3 (an S3-compatible object store) or pgtopo:backup.repositoryHost (a repository container on one of the hosts); the default, a Docker volume, exists on one machine only",
        ],
        [
            "a client that is not an address",
            { ...cascade, clients: ["everyone"] },
            'pgtopo:clients[0]: "everyone" is not allowed; it must be an IPv4 address or network, such as 10.0.0.5 or 10.0.1.0/24',
        ],
        [
            "clients on one machine",
            { primary: "a", nodes: [{ name: "a", port: 5433 }], clients: ["10.0.0.5"] },
            "pgtopo:clients: allowed only with pgtopo:hosts; on one machine clients connect on 127.0.0.1",
        ],
    ])("refuses %s, naming the field, the value and what is allowed", (_title, raw, problem) => {
        expect(problemsOf(raw)).toEqual([problem]);
    });

    describe("a host the user says is gone", () => {
        const gone = { ...hosts, db1: { ...hosts.db1, gone: true } };

        it("refuses it as the primary's host, and as a live standby's upstream's", () => {
            expect(problemsOf({ ...cascade, hosts: gone })).toEqual([
                'pgtopo:primary: "a" is on host db1, which pgtopo:hosts.db1.gone says is lost; name a node on a host that is up: "b", "c"',
            ]);
            const nodes = [
                { name: "a", port: 5433, host: "db1" },
                { name: "b", port: 5434, host: "db2" },
                { name: "c", port: 5435, host: "db3", upstream: "a" },
            ];
            expect(problemsOf({ primary: "b", hosts: gone, nodes })).toEqual([
                'pgtopo:nodes[2] (c).upstream: "a" is on host db1, which pgtopo:hosts.db1.gone says is lost; stream from a node on a host that is up: "b"',
            ]);
        });

        it("fails over without fencing or repairing its nodes, and says so", () => {
            const config = parseClusterConfig({
                primary: "b",
                hosts: gone,
                nodes: [
                    { name: "a", port: 5433, host: "db1" },
                    { name: "b", port: 5434, host: "db2" },
                    { name: "c", port: 5435, host: "db3", upstream: "b" },
                ],
            });
            const plan = planTopology(config, "unit");
            expect(plan.nodes.find((n) => n.name === "a")).toMatchObject({ gone: true, role: "standby" });
            const seen = observed;
            const observations = [
                seen("a", { reachable: false, error: "not asked: its host db1 is marked gone" }),
                seen("b", { inRecovery: true, timeline: 1, walLsn: "0/5000000", upstreamHost: "a", conninfoHost: "a", slotSetting: "pgtopo_b" }), // prettier-ignore
                seen("c", { inRecovery: true, timeline: 1, walLsn: "0/5000000", upstreamHost: "a", conninfoHost: "a", slotSetting: "pgtopo_c" }), // prettier-ignore
            ];
            const planned = planConvergence(
                { target: "b", maxLagOnFailover: 1 << 20, nodes: plan.nodes },
                observations,
            );
            expect(planned.transition).toMatchObject({ kind: "failover", to: "b" });
            expect(planned.repairs.map((r) => r.node)).not.toContain("a");
            expect(planned.lines.at(-1)).toBe(
                "a: on a host marked gone, not fenced and not repaired; once the host is back and its 'gone' removed, the next 'up' fences and rejoins it",
            );
        });
    });
});

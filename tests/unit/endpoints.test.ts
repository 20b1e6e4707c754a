import { describe, expect, it } from "vitest";
import { ConfigError, parseClusterConfig } from "../../config";
import { planRouters, routerTargets } from "../../planning/routers";
import { planTopology } from "../../planning/topology";

const nodes = [
    { name: "pg-1", port: 15432 },
    { name: "pg-2", port: 15433 },
    { name: "pg-3", port: 15434, upstream: "pg-2" },
];
const problems = (raw: Record<string, unknown>): readonly string[] => {
    try {
        planTopology(parseClusterConfig(raw), "unit");
        return [];
    } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
    }
};

describe("pgtopo:endpoints", () => {
    it("is off by default, and takes every default with one listener named", () => {
        expect(parseClusterConfig({ primary: "pg-1", nodes }).endpoints).toBeUndefined();
        expect(parseClusterConfig({ primary: "pg-1", nodes, endpoints: { rw: { port: 16432 } } }).endpoints).toEqual({
            rw: { port: 16432 },
            pooling: "transaction",
            pauseTimeout: 10,
            maxClientConnections: 1000,
            poolSize: 20,
        });
    });

    it.each([
        [
            {},
            [
                "pgtopo:endpoints: {} is not allowed; it must name at least one listener: rw (the primary) or ro (the standbys), each { port }",
            ],
        ],
        [
            { rw: { port: 80 } },
            ["pgtopo:endpoints.rw.port: 80 is not allowed; it must be an integer from 1024 to 65535"],
        ],
        [
            { rw: { port: 16432 }, ro: { port: 16432 } },
            ["pgtopo:endpoints.ro.port: 16432 is rw's port too; each listener needs its own port"],
        ],
        [
            { rw: { port: 15433 } },
            ["pgtopo:endpoints.rw.port: 15433 is the port of pgtopo:nodes[1] (pg-2); choose a port no node uses"],
        ],
        [
            { rw: { port: 16432 }, pooling: "statement" },
            ['pgtopo:endpoints.pooling: "statement" is not allowed; it must be "transaction" or "session"'],
        ],
        [
            { rw: { port: 16432 }, pauseTimeout: 0 },
            ["pgtopo:endpoints.pauseTimeout: 0 is not allowed; it must be a whole number of seconds from 1 to 60"],
        ],
        [
            { rw: { port: 16432 }, rx: {} },
            [
                'pgtopo:endpoints: unknown key "rx"; allowed keys are rw, ro, pooling, pauseTimeout, maxClientConnections, poolSize',
            ],
        ],
    ])("refuses %j, naming the field, the value and what is allowed", (endpoints, expected) => {
        expect(problems({ primary: "pg-1", nodes, endpoints })).toEqual(expected);
    });

    it("plans one router on one machine, on loopback, rw at the primary and ro over the standbys", () => {
        const config = parseClusterConfig({
            primary: "pg-2",
            nodes,
            endpoints: { rw: { port: 16432 }, ro: { port: 16433 } },
        });
        const routers = planRouters(config, planTopology(config, "unit"), "unit");
        expect(routers).toEqual([
            {
                name: "router",
                address: "127.0.0.1",
                container: "pgtopo-unit-router",
                listeners: { rw: 16432, ro: 16433 },
                targets: { rw: "pg-2:5432", ro: ["pg-1:5432", "pg-3:5432"] },
            },
        ]);
    });

    it("plans a router per host, a gone host's frozen, and keeps the standbys of a gone host out of ro", () => {
        const config = parseClusterConfig({
            primary: "pg-1",
            hosts: {
                db1: { docker: "ssh://a@db1", address: "10.0.0.11" },
                db2: { docker: "ssh://a@db2", address: "10.0.0.12", gone: true },
                db3: { docker: "ssh://a@db3", address: "10.0.0.13" },
            },
            nodes: [
                { name: "pg-1", port: 5433, host: "db1" },
                { name: "pg-2", port: 5433, host: "db2" },
                { name: "pg-3", port: 5433, host: "db3" },
            ],
            endpoints: { rw: { port: 6432 } },
        });
        const routers = planRouters(config, planTopology(config, "unit"), "unit");
        expect(routers.map((r) => [r.name, r.address, r.gone ?? false])).toEqual([
            ["router-db1", "10.0.0.11", false],
            ["router-db2", "10.0.0.12", true],
            ["router-db3", "10.0.0.13", false],
        ]);
        expect(routers[0].targets).toEqual({ rw: "10.0.0.11:5433", ro: ["10.0.0.13:5433"] });
    });

    it("refuses ro across hosts whose nodes listen on different ports (one port per host list in PgBouncer 1.24)", () => {
        const hosts = {
            db1: { docker: "ssh://a@db1", address: "10.0.0.11" },
            db2: { docker: "ssh://a@db2", address: "10.0.0.12" },
        };
        const twoPorts = [
            { name: "pg-1", port: 5433, host: "db1" },
            { name: "pg-2", port: 5434, host: "db2" },
        ];
        expect(problems({ primary: "pg-1", hosts, nodes: twoPorts, endpoints: { ro: { port: 6433 } } })).toEqual([
            "pgtopo:endpoints.ro: the nodes listen on ports 5433, 5434 of their hosts; ro reaches the standbys as one list of hosts, which PgBouncer 1.24 takes on one port: give every node the same port (each host has its own), or leave ro out",
        ]);
        expect(problems({ primary: "pg-1", hosts, nodes: twoPorts, endpoints: { rw: { port: 6432 } } })).toEqual([]);
    });

    it("points ro at the primary when there is no standby", () => {
        const config = parseClusterConfig({ primary: "pg-1", nodes: [nodes[0]] });
        expect(routerTargets(planTopology(config, "unit"))).toEqual({ rw: "pg-1:5432", ro: ["pg-1:5432"] });
    });
});

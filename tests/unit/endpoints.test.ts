import { describe, expect, it } from "vitest";
import { ConfigError, parseClusterConfig } from "../../config";
import {
    assessRouters,
    endpointUrl,
    parseRouterState,
    planRouters,
    routerTargets,
    servingTargets,
    type RouterObservation,
} from "../../planning/routers";
import { endpointPortClaims } from "../../preflight/ports";
import { multiHostUrl } from "../../ops/observe";
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
            { rw: { port: 16432 } },
            [
                'pgtopo:nodes[0].name: "router" is the name of the stack\'s router with pgtopo:endpoints; give the node another name',
            ],
            [{ name: "router", port: 15432 }, ...nodes.slice(1).map((n) => ({ ...n, upstream: undefined }))],
        ],
        [
            { rw: { port: 16432 }, rx: {} },
            [
                'pgtopo:endpoints: unknown key "rx"; allowed keys are rw, ro, pooling, pauseTimeout, maxClientConnections, poolSize',
            ],
        ],
    ])("refuses %j, naming the field, the value and what is allowed", (endpoints, expected, withNodes?) => {
        const theNodes = withNodes ?? nodes;
        expect(problems({ primary: theNodes[0].name, nodes: theNodes, endpoints })).toEqual(expected);
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
                targets: { rw: "pg-2:5432", ro: ["pg-1:5432", "pg-3:5432"], roNodes: ["pg-1", "pg-3"] },
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
        expect(routers[0].targets).toEqual({ rw: "10.0.0.11:5433", ro: ["10.0.0.13:5433"], roNodes: ["pg-3"] });
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
        expect(routerTargets(planTopology(config, "unit"))).toEqual({
            rw: "pg-1:5432",
            ro: ["pg-1:5432"],
            roNodes: [],
        });
    });

    it("leaves a standby that is down out of ro, and falls back to the primary when none is left", () => {
        const config = parseClusterConfig({ primary: "pg-1", nodes });
        const targets = routerTargets(planTopology(config, "unit"));
        expect(servingTargets(targets)).toEqual({ rw: "pg-1:5432", ro: ["pg-2:5432", "pg-3:5432"] });
        expect(servingTargets(targets, new Set(["pg-2"]))).toEqual({ rw: "pg-1:5432", ro: ["pg-3:5432"] });
        expect(servingTargets(targets, new Set(["pg-2", "pg-3"]))).toEqual({ rw: "pg-1:5432", ro: ["pg-1:5432"] });
    });

    it("gives each listener one URI over every live router; rw asks for a read-write session; TLS verifies against the CA", () => {
        const config = parseClusterConfig({
            primary: "pg-1",
            hosts: {
                db1: { docker: "ssh://a@db1", address: "10.0.0.11" },
                db2: { docker: "ssh://a@db2", address: "10.0.0.12", gone: true },
                db3: { docker: "ssh://a@db3", address: "10.0.0.13" },
            },
            nodes: [
                { name: "pg-1", port: 5433, host: "db1" },
                { name: "pg-2", port: 5433, host: "db3" },
            ],
            endpoints: { rw: { port: 6432 }, ro: { port: 6433 } },
        });
        const routers = planRouters(config, planTopology(config, "unit"), "unit");
        const who = { user: "postgres", password: "p@ss/word" };
        expect(endpointUrl(routers, "rw", who, "/home/u/.pgtopo/tls/unit-ca.crt")).toBe(
            "postgresql://postgres:p%40ss%2Fword@10.0.0.11:6432,10.0.0.13:6432/postgres?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=%2Fhome%2Fu%2F.pgtopo%2Ftls%2Funit-ca.crt",
        );
        expect(endpointUrl(routers, "ro", who)).toBe(
            "postgresql://postgres:p%40ss%2Fword@10.0.0.11:6433,10.0.0.13:6433/postgres",
        );
        const rwOnly = routers.map((r) => ({ ...r, listeners: { rw: 6432 } }));
        expect(endpointUrl(rwOnly, "ro", who)).toBeUndefined();
    });

    it("gives clients that want no router one libpq URI over every node that keeps the primary", () => {
        expect(
            multiHostUrl("pw", [
                { address: "127.0.0.1", port: 15432 },
                { address: "127.0.0.1", port: 15433 },
            ]),
        ).toBe("postgresql://postgres:pw@127.0.0.1:15432,127.0.0.1:15433/postgres?target_session_attrs=read-write");
    });

    it("claims each listener's port on loopback for the stack's router", () => {
        expect(endpointPortClaims({ rw: { port: 16432 }, ro: { port: 16433 } } as never, "pgtopo-dev-router")).toEqual([
            { field: "pgtopo:endpoints.rw.port", port: 16432, container: "pgtopo-dev-router" },
            { field: "pgtopo:endpoints.ro.port", port: 16433, container: "pgtopo-dev-router" },
        ]);
        expect(endpointPortClaims(undefined, "pgtopo-dev-router")).toEqual([]);
    });
});

describe("what npm run status says of the routers", () => {
    const config = parseClusterConfig({
        primary: "pg-1",
        nodes,
        endpoints: { rw: { port: 16432 }, ro: { port: 16433 } },
    });
    const [router] = planRouters(config, planTopology(config, "unit"), "unit");
    const listening = (rw: string, ro: string, paused = false) =>
        ({
            name: "router",
            container: "running",
            listeners: {
                rw: { paused, target: rw, clients: 3, servers: 2 },
                ro: { paused, target: ro, clients: 0, servers: 0 },
            },
        }) satisfies RouterObservation;

    it("reads pgtopo-router state, leaving out a listener that does not run", () => {
        expect(
            parseRouterState(
                '{"rw":{"running":true,"paused":true,"target":"pg-1:5432","clients":4,"servers":1},"ro":{"running":false}}',
            ),
        ).toEqual({ rw: { paused: true, target: "pg-1:5432", clients: 4, servers: 1 } });
        expect(
            parseRouterState('{"rw":{"running":true,"paused":false,"target":null,"clients":0,"servers":0}}'),
        ).toEqual({
            rw: { paused: false, clients: 0, servers: 0 },
        });
    });

    it("finds nothing to say of a router pointed as planned and not paused", () => {
        const seen = assessRouters([router], [listening("pg-1:5432", "pg-2:5432,pg-3:5432")]);
        expect(seen.differences).toEqual([]);
        expect(seen.listeners).toEqual([
            { router: "router", listener: "rw", target: "pg-1:5432", want: "pg-1:5432", paused: false, clients: 3, servers: 2 },
            { router: "router", listener: "ro", target: "pg-2:5432,pg-3:5432", want: "pg-2:5432,pg-3:5432", paused: false, clients: 0, servers: 0 },
        ]); // prettier-ignore
    });

    it("names a router paused, pointed elsewhere, silent, stopped or missing", () => {
        expect(assessRouters([router], [listening("pg-2:5432", "pg-2:5432,pg-3:5432", true)]).differences).toEqual([
            "router: its rw and ro listeners are paused",
            "router: rw points at pg-2:5432, not pg-1:5432",
        ]);
        const silent = { name: "router", container: "running" as const, listeners: {} };
        expect(assessRouters([router], [silent]).differences).toEqual([
            "router: its rw and ro listeners do not answer",
        ]);
        const roSilent = { ...listening("pg-1:5432", ""), listeners: { rw: listening("pg-1:5432", "").listeners.rw } };
        expect(assessRouters([router], [roSilent]).differences).toEqual(["router: its ro listener does not answer"]);
        expect(assessRouters([router], [{ name: "router", container: "stopped", listeners: {} }]).differences).toEqual([
            "router is not running (container stopped)",
        ]);
        expect(assessRouters([router], []).differences).toEqual(["router is not running (container missing)"]);
        // A standby that is down is rightly left out of ro; its own row says it is down.
        expect(assessRouters([router], [listening("pg-1:5432", "pg-3:5432")], new Set(["pg-2"])).differences).toEqual(
            [],
        );
    });
});

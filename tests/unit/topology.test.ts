import { describe, expect, it } from "vitest";
import { ConfigError, parseClusterConfig } from "../../config";
import { nodesSummary, planTopology, slotNameFor, topologyMermaid } from "../../planning/topology";

const plan = (raw: Record<string, unknown>) => planTopology(parseClusterConfig(raw), "unit");

function problemsOf(raw: Record<string, unknown>): readonly string[] {
    try {
        plan(raw);
    } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
    }
    throw new Error("expected a ConfigError");
}

const twoNodes = {
    primary: "pg-1",
    nodes: [
        { name: "pg-1", port: 15432 },
        { name: "pg-2", port: 15433, upstream: "pg-1" },
    ],
};

describe("planTopology", () => {
    it("plans the config contract's primary and standby", () => {
        const result = plan(twoNodes);
        expect(result.primary).toBe("pg-1");
        expect(result.nodes).toEqual([
            // prettier-ignore
            { name: "pg-1", port: 15432, role: "primary", upstream: undefined, slot: undefined, depth: 0, address: "127.0.0.1", endpoint: "pg-1", container: "pgtopo-unit-pg-1", volume: "pgtopo-unit-pg-1-data" },
            // prettier-ignore
            { name: "pg-2", port: 15433, role: "standby", upstream: "pg-1", slot: "pgtopo_pg_2", depth: 1, address: "127.0.0.1", endpoint: "pg-2", container: "pgtopo-unit-pg-2", volume: "pgtopo-unit-pg-2-data" },
        ]);
    });

    it("defaults a standby's upstream to the primary", () => {
        const result = plan({
            primary: "a",
            nodes: [
                { name: "a", port: 2000 },
                { name: "b", port: 2001 },
            ],
        });
        expect(result.nodes[1]).toMatchObject({ name: "b", role: "standby", upstream: "a" });
    });

    it("orders cascades upstream-first whatever the config order", () => {
        const result = plan({
            primary: "p",
            nodes: [
                { name: "b", port: 2003, upstream: "a" },
                { name: "c", port: 2002 },
                { name: "a", port: 2001, upstream: "p" },
                { name: "p", port: 2000 },
            ],
        });
        expect(result.nodes.map((n) => `${n.name}:${n.depth}`)).toEqual(["p:0", "c:1", "a:1", "b:2"]);
        expect(result.nodes.find((n) => n.name === "b")?.upstream).toBe("a");
    });

    it("names slots so that PostgreSQL accepts them", () => {
        expect(slotNameFor("pg-2")).toBe("pgtopo_pg_2");
        expect(slotNameFor("replica")).toMatch(/^[a-z0-9_]{1,63}$/);
    });

    it("summarizes nodes for the stack output", () => {
        expect(nodesSummary(plan(twoNodes))).toEqual({
            "pg-1": { role: "primary", port: 15432 },
            "pg-2": { role: "standby", port: 15433, upstream: "pg-1" },
        });
    });

    it("draws the topology as a Mermaid flowchart", () => {
        expect(topologyMermaid(plan(twoNodes))).toBe(
            [
                "flowchart TD",
                '    n_pg_1[("pg-1<br/>primary :15432")]',
                '    n_pg_2["pg-2<br/>standby :15433"]',
                "    n_pg_1 -->|pgtopo_pg_2| n_pg_2",
            ].join("\n"),
        );
    });
});

describe("bad configs are refused with one message per problem", () => {
    const cases: Array<[string, Record<string, unknown>, string[]]> = [
        [
            "primary not among the nodes",
            { ...twoNodes, primary: "pg-9" },
            ['pgtopo:primary: "pg-9" is not among the nodes; allowed: "pg-1", "pg-2"'],
        ],
        [
            "unknown upstream",
            {
                primary: "pg-1",
                nodes: [
                    { name: "pg-1", port: 15432 },
                    { name: "pg-2", port: 15433, upstream: "pg-7" },
                ],
            },
            ['pgtopo:nodes[1] (pg-2).upstream: "pg-7" is not a node; allowed: "pg-1"'],
        ],
        [
            "a node streaming from itself",
            {
                primary: "pg-1",
                nodes: [
                    { name: "pg-1", port: 15432 },
                    { name: "pg-2", port: 15433, upstream: "pg-2" },
                ],
            },
            ['pgtopo:nodes[1] (pg-2).upstream: "pg-2" is the node itself; a standby must stream from another node'],
        ],
        [
            "an upstream on the primary",
            {
                primary: "pg-1",
                nodes: [
                    { name: "pg-1", port: 15432, upstream: "pg-2" },
                    { name: "pg-2", port: 15433 },
                ],
            },
            [
                'pgtopo:nodes[0] (pg-1).upstream: "pg-2" is not allowed on the primary; the primary streams from no one (remove upstream, or name another primary)',
            ],
        ],
        [
            "an upstream cycle",
            {
                primary: "p",
                nodes: [
                    { name: "p", port: 2000 },
                    { name: "a", port: 2001, upstream: "b" },
                    { name: "b", port: 2002, upstream: "a" },
                ],
            },
            ['pgtopo:nodes: upstreams form a cycle a -> b -> a; every chain of upstreams must end at the primary "p"'],
        ],
        [
            "duplicate names",
            {
                primary: "pg-1",
                nodes: [
                    { name: "pg-1", port: 15432 },
                    { name: "pg-1", port: 15433 },
                ],
            },
            ['pgtopo:nodes[0], [1].name: "pg-1" is used by more than one node; names must be unique'],
        ],
        [
            "duplicate ports",
            {
                primary: "pg-1",
                nodes: [
                    { name: "pg-1", port: 15432 },
                    { name: "pg-2", port: 15432 },
                ],
            },
            ["pgtopo:nodes[0], [1].port: 15432 is used by more than one node; each node needs its own port"],
        ],
        [
            "a name Docker and PostgreSQL cannot both use",
            { primary: "PG_1", nodes: [{ name: "PG_1", port: 15432 }] },
            [
                `pgtopo:nodes[0] (PG_1).name: "PG_1" is not allowed; it must be 1 to 32 characters: lowercase letters, digits and '-', starting with a letter and not ending with '-'`,
            ],
        ],
        [
            "a port out of range",
            { primary: "pg-1", nodes: [{ name: "pg-1", port: 70000 }] },
            ["pgtopo:nodes[0] (pg-1).port: 70000 is not allowed; it must be an integer from 1024 to 65535"],
        ],
        [
            "a privileged port",
            { primary: "pg-1", nodes: [{ name: "pg-1", port: 80 }] },
            ["pgtopo:nodes[0] (pg-1).port: 80 is not allowed; it must be an integer from 1024 to 65535"],
        ],
        [
            "a port that is not a number",
            { primary: "pg-1", nodes: [{ name: "pg-1", port: "15432" }] },
            ['pgtopo:nodes[0] (pg-1).port: "15432" is not allowed; it must be an integer from 1024 to 65535'],
        ],
        [
            "an unknown top-level key",
            { ...twoNodes, primay: "pg-2" },
            [
                'pgtopo: unknown key "primay"; allowed keys are pgtopo:postgresVersion, pgtopo:primary, pgtopo:nodes, pgtopo:synchronous, pgtopo:parameters, pgtopo:maxLagOnFailover, pgtopo:deleteDataOnRemove, pgtopo:backup, pgtopo:tls, pgtopo:hosts, pgtopo:clients, pgtopo:restore, pgtopo:endpoints, pgtopo:baseImage',
            ],
        ],
        [
            "an unknown node key",
            { primary: "pg-1", nodes: [{ name: "pg-1", prot: 15432, port: 15432 }] },
            ['pgtopo:nodes[0] (pg-1): unknown key "prot"; allowed keys are name, port, upstream, host'],
        ],
        [
            "an unsupported PostgreSQL version",
            { ...twoNodes, postgresVersion: "9.6" },
            [
                'pgtopo:postgresVersion: "9.6" is not allowed; it must be one of "15" (Debian bookworm), "17" (Debian trixie), the majors Debian\'s archive ships',
            ],
        ],
        [
            "PostgreSQL 16, which no Debian archive pgtopo builds from ships",
            { ...twoNodes, postgresVersion: "16" },
            [
                'pgtopo:postgresVersion: "16" is not allowed; it must be one of "15" (Debian bookworm), "17" (Debian trixie), the majors Debian\'s archive ships',
            ],
        ],
        [
            "no nodes at all",
            { primary: "pg-1", nodes: [] },
            ["pgtopo:nodes: [] is not allowed; it must list at least one node"],
        ],
        [
            "nodes that are not a list",
            { primary: "pg-1", nodes: "pg-1,pg-2" },
            ['pgtopo:nodes: "pg-1,pg-2" is not allowed; it must be a list of nodes, each with a name and a port'],
        ],
        [
            "no primary",
            { nodes: [{ name: "pg-1", port: 15432 }] },
            ["pgtopo:primary is required: the name of the node that must be primary"],
        ],
    ];

    const threeNodes = {
        primary: "pg-1",
        nodes: [
            { name: "pg-1", port: 15432 },
            { name: "pg-2", port: 15433 },
            { name: "pg-3", port: 15434, upstream: "pg-2" },
        ],
    };
    cases.push(
        [
            "a synchronous standby that is not a node",
            { ...threeNodes, synchronous: { standbys: ["pg-9"] } },
            ['pgtopo:synchronous.standbys[0]: "pg-9" is not a node; allowed: standbys of the primary ("pg-2")'],
        ],
        [
            "the primary as its own synchronous standby",
            { ...threeNodes, synchronous: { standbys: ["pg-1"] } },
            ['pgtopo:synchronous.standbys[0]: "pg-1" is the primary; allowed: standbys of the primary ("pg-2")'],
        ],
        [
            "a cascaded standby as synchronous standby",
            { ...threeNodes, synchronous: { standbys: ["pg-3"] } },
            [
                'pgtopo:synchronous.standbys[0]: "pg-3" streams from "pg-2", not from the primary; allowed: standbys of the primary ("pg-2")',
            ],
        ],
        [
            "a synchronous count above the standbys listed",
            { ...threeNodes, synchronous: { count: 2, standbys: ["pg-2"] } },
            ["pgtopo:synchronous.count: 2 is more than the 1 standbys listed; allowed: 1 to 1"],
        ],
        [
            "an unknown synchronous mode",
            { ...threeNodes, synchronous: { mode: "all", standbys: ["pg-2"] } },
            ['pgtopo:synchronous.mode: "all" is not allowed; it must be "any" (quorum) or "first" (priority)'],
        ],
        [
            "a parameter pgtopo manages",
            { ...twoNodes, parameters: { wal_level: "minimal" } },
            [
                'pgtopo:parameters.wal_level: "wal_level" is not allowed; it is managed by pgtopo from the topology and cannot be set here',
            ],
        ],
        [
            "a parameter name that is not a setting name",
            { ...twoNodes, parameters: { "work mem": "8MB" } },
            [
                'pgtopo:parameters.work mem: "work mem" is not allowed; it must be a PostgreSQL setting name such as work_mem',
            ],
        ],
        [
            "a parameter value that is a list",
            { ...twoNodes, parameters: { work_mem: ["8MB"] } },
            ['pgtopo:parameters.work_mem: ["8MB"] is not allowed; it must be a string, a number or a boolean'],
        ],
        [
            "deleteDataOnRemove that is not a boolean",
            { ...twoNodes, deleteDataOnRemove: "yes" },
            ['pgtopo:deleteDataOnRemove: "yes" is not allowed; it must be true or false'],
        ],
    );

    it.each(cases)("%s", (_title, raw, expected) => {
        expect(problemsOf(raw)).toEqual(expected);
    });

    it("reports every problem of a config at once", () => {
        const problems = problemsOf({
            primary: "pg-1",
            nodes: [
                { name: "pg-1", port: 15432 },
                { name: "pg-2", port: 15432, upstream: "nope" },
            ],
        });
        expect(problems).toHaveLength(2);
    });

    it("says nothing was changed", () => {
        expect(() => plan({ ...twoNodes, primary: "x" })).toThrow(
            /^Invalid pgtopo configuration \(nothing was changed\):/,
        );
    });
});

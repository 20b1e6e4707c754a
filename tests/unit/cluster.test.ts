import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../config";
import { planTopology } from "../../planning/topology";

interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, any>;
}

const recorded: Recorded[] = [];
const GENERATED = "GeneratedSecret0123456789abcdef";

beforeAll(async () => {
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
                const state: Record<string, unknown> = { ...args.inputs };
                if (args.type === "command:local:Command") {
                    state.stdout = args.name.endsWith("-report")
                        ? JSON.stringify({
                              "pg-1": { timeline: 1, role: "primary" },
                              "pg-2": { timeline: 1, role: "standby" },
                          })
                        : `${GENERATED}\n`;
                }
                if (args.type === "docker:index/remoteImage:RemoteImage") state.imageId = "sha256:feedbeef";
                return { id: `${args.name}-id`, state };
            },
            call(args) {
                // Fail loudly: the cluster must not depend on any provider function.
                throw new Error(`unexpected call to ${args.token}`);
            },
        },
        "pgtopo",
        "unit",
        false,
    );
});

/**
 * Every registration the program started, done: the SDK's own wait for its RPC queue to
 * drain, as its runner does before a program ends (internal, hence the cast). Every
 * resource is declared in a constructor (none inside a promise), so nothing comes after.
 */
const registered = () => (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
/** Pulumi's wire form of a secret value: a signature key beside the value. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
function unwrapSecret(value: any): any {
    expect(value?.[SECRET_SIG], "expected a secret").toBeDefined();
    return value.value;
}
const resolve = <T>(o: pulumi.Output<T>) => new Promise<T>((res) => o.apply(res));
const find = (type: string, name: string) => {
    const r = recorded.find((x) => x.type === type && x.name === name);
    if (!r) throw new Error(`no ${type} named ${name}; have ${recorded.map((x) => x.name).join(", ")}`);
    return r;
};

describe("PostgresCluster resource graph", () => {
    let outputs: { connectionStrings: Record<string, string>; primary: string };

    beforeAll(async () => {
        const { ClusterConvergence, PostgresCluster } = await import("../../components");
        const config = parseClusterConfig({
            primary: "pg-1",
            nodes: [
                { name: "pg-1", port: 15432 },
                { name: "pg-2", port: 15433, upstream: "pg-1" },
                { name: "pg-3", port: 15434, upstream: "pg-2" },
            ],
        });
        const cluster = new PostgresCluster("pgtopo", { stack: "unit", config, plan: planTopology(config, "unit") });
        new ClusterConvergence("pgtopo-convergence", { cluster }, { parent: cluster });
        await registered();
        outputs = { connectionStrings: await resolve(cluster.connectionStrings), primary: cluster.primary };
    });

    it("declares every step of every node and of the cluster, each in a constructor (none left pending)", () => {
        const commands = recorded.filter((r) => r.type === "command:local:Command").map((r) => r.name);
        for (const node of ["pg-1", "pg-2", "pg-3"]) {
            for (const step of ["removal", "bootstrap", "ready", "settings"])
                expect(commands).toContain(`pgtopo-${node}-${step}`);
        }
        for (const standby of ["pg-2", "pg-3"]) {
            expect(commands).toContain(`pgtopo-${standby}-slot`);
            expect(commands).toContain(`pgtopo-${standby}-follow`);
        }
        expect(commands).not.toContain("pgtopo-pg-1-follow");
        expect(commands).toEqual(expect.arrayContaining(["pgtopo-converge", "pgtopo-report"]));
        expect(recorded.map((r) => r.type)).toEqual(
            expect.arrayContaining(["docker:index/network:Network", "pgtopo:index:Convergence"]),
        );
    });

    it("builds one image from the Debian base, locally, kept across stacks", () => {
        const image = find("docker:index/remoteImage:RemoteImage", "pgtopo-image-build");
        expect(image.inputs.name).toBe("pgtopo/postgres:15");
        expect(image.inputs.keepLocally).toBe(true);
        expect(image.inputs.build.buildArgs).toEqual({ PG_MAJOR: "15", BASE_IMAGE: "pgtopo/debian:bookworm" });
        expect(image.inputs.triggers.context).toMatch(/^[0-9a-f]{64}$/);
    });

    it("gives every node a named volume and publishes its port on loopback only", () => {
        for (const [node, port] of [
            ["pg-1", 15432],
            ["pg-2", 15433],
            ["pg-3", 15434],
        ] as const) {
            expect(find("docker:index/volume:Volume", `pgtopo-${node}-data`).inputs.name).toBe(
                `pgtopo-unit-${node}-data`,
            );
            const container = find("docker:index/container:Container", `pgtopo-${node}-server`);
            expect(container.inputs.ports).toEqual([{ internal: 5432, external: port, ip: "127.0.0.1" }]);
            expect(container.inputs.volumes[0]).toMatchObject({
                volumeName: `pgtopo-unit-${node}-data`,
                containerPath: "/var/lib/postgresql/data",
            });
            expect(container.inputs.networksAdvanced).toEqual([{ name: "pgtopo-unit-net", aliases: [node] }]);
            // Readiness is the -ready command's job (0.1 s polling), not the provider's 1 s one.
            expect(container.inputs.wait).toBeUndefined();
            expect(find("command:local:Command", `pgtopo-${node}-ready`).inputs.create).toBe(
                `bash scripts/node-ready.sh pgtopo-unit-${node}`,
            );
        }
    });

    it("initializes only the primary and clones each standby from its own upstream", () => {
        const commands = recorded.filter((r) => r.type === "command:local:Command").map((r) => r.name);
        expect(commands).toContain("pgtopo-pg-1-bootstrap");
        expect(find("command:local:Command", "pgtopo-pg-1-bootstrap").inputs.create).toMatch(/ pgtopo-init \|\| /);
        expect(find("command:local:Command", "pgtopo-pg-2-bootstrap").inputs.create).toMatch(/ pgtopo-clone \|\| /);
        expect(unwrapSecret(find("command:local:Command", "pgtopo-pg-2-bootstrap").inputs.environment)).toMatchObject({
            PGTOPO_UPSTREAM: "pg-1",
            PGTOPO_SLOT: "pgtopo_pg_2",
        });
        expect(unwrapSecret(find("command:local:Command", "pgtopo-pg-3-bootstrap").inputs.environment)).toMatchObject({
            PGTOPO_UPSTREAM: "pg-2",
            PGTOPO_SLOT: "pgtopo_pg_3",
        });
    });

    it("creates each standby's slot on its upstream and drops it on removal", () => {
        const slot = find("command:local:Command", "pgtopo-pg-3-slot");
        expect(slot.inputs.create).toBe("docker exec pgtopo-unit-pg-2 pgtopo-slot create pgtopo_pg_3");
        expect(slot.inputs.delete).toBe(
            "bash scripts/unless-gone.sh 'slot pgtopo_pg_3 on pgtopo-unit-pg-2' bash scripts/drop-slot.sh pgtopo-unit-pg-2 pgtopo_pg_3",
        );
    });

    it("on destroy, removes the stack's leftover one-shot containers, then its volumes (kept ones too) and its network", () => {
        const janitor = find("command:local:Command", "pgtopo-data-janitor");
        expect(janitor.inputs.delete).toBe(
            "bash scripts/unless-gone.sh 'the stack'\\''s containers, volumes and network (pgtopo.stack=unit)' " +
                "bash scripts/remove-stack.sh pgtopo.stack=unit pgtopo-unit-net",
        );
    });

    it("removes each node with a step of its own, by container name and generation, its volume kept", () => {
        for (const node of ["pg-1", "pg-2", "pg-3"]) {
            const removal = find("command:local:Command", `pgtopo-${node}-removal`);
            expect(removal.inputs.delete).toBe(
                `bash scripts/unless-gone.sh 'container pgtopo-unit-${node}' bash scripts/remove-node.sh pgtopo-unit-${node} ''`,
            );
            expect(removal.inputs.triggers).toEqual([""]);
        }
    });

    it("bootstraps each node inside its own container, secrets forwarded by name only, a failure marked for its ready gate", () => {
        const marker = (node: string) => `"\${TMPDIR:-/tmp}/pgtopo-bootstrap-failed.pgtopo-unit-${node}"`;
        expect(find("command:local:Command", "pgtopo-pg-1-bootstrap").inputs.create).toBe(
            `rm -f ${marker("pg-1")}; ` +
                "docker exec -e PGTOPO_SUPERUSER_PASSWORD -e PGTOPO_REPLICATION_PASSWORD -e PGTOPO_SETTINGS pgtopo-unit-pg-1 pgtopo-init" +
                ` || { status=$?; touch ${marker("pg-1")}; exit $status; }`,
        );
        expect(find("command:local:Command", "pgtopo-pg-2-bootstrap").inputs.create).toBe(
            `rm -f ${marker("pg-2")}; ` +
                "docker exec -e PGTOPO_UPSTREAM -e PGTOPO_SLOT -e PGTOPO_REPLICATION_PASSWORD pgtopo-unit-pg-2 pgtopo-clone" +
                ` || { status=$?; touch ${marker("pg-2")}; exit $status; }`,
        );
    });

    it("keeps generated passwords out of every command's text", () => {
        for (const r of recorded.filter((x) => x.type === "command:local:Command")) {
            expect(JSON.stringify([r.inputs.create, r.inputs.delete ?? ""])).not.toContain(GENERATED);
        }
        // They reach the commands only through the environment, which the state keeps secret.
        const initdb = unwrapSecret(find("command:local:Command", "pgtopo-pg-1-bootstrap").inputs.environment);
        expect(initdb.PGTOPO_SUPERUSER_PASSWORD).toBe(GENERATED);
        expect(initdb.PGTOPO_REPLICATION_PASSWORD).toBe(GENERATED);
    });

    it("generates passwords without logging them", () => {
        const generator = find("command:local:Command", "pgtopo-superuser-password-generator");
        expect(generator.inputs.logging).toBe("none");
        expect(generator.inputs.create).toContain("/dev/urandom");
    });

    it("reads each node's timeline from the report's last line, and nothing from noise", async () => {
        const { parseTimelines } = await import("../../components/convergence");
        expect(parseTimelines('warning: x\n{"pg-1":{"timeline":2,"role":"primary"}}\n')).toEqual({ "pg-1": 2 });
        expect(parseTimelines("")).toEqual({});
        expect(parseTimelines("not json")).toEqual({});
    });

    it("outputs a loopback connection string per node", () => {
        expect(outputs.primary).toBe("pg-1");
        expect(outputs.connectionStrings).toEqual({
            "pg-1": `postgresql://postgres:${GENERATED}@127.0.0.1:15432/postgres`,
            "pg-2": `postgresql://postgres:${GENERATED}@127.0.0.1:15433/postgres`,
            "pg-3": `postgresql://postgres:${GENERATED}@127.0.0.1:15434/postgres`,
        });
    });
});

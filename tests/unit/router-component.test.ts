import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../config";
import { planTopology } from "../../planning/topology";

/**
 * The router of pgtopo:endpoints as resources (components/router.ts), under Pulumi mocks:
 * what a user's `up` would ask Docker for, checked without Docker.
 */
interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, any>;
}
const recorded: Recorded[] = [];
const GENERATED = "GeneratedSecret0123456789abcdef";
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

beforeAll(async () => {
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
                const state: Record<string, unknown> = { ...args.inputs };
                if (args.type === "command:local:Command") state.stdout = `${GENERATED}\n`;
                if (args.type === "docker:index/remoteImage:RemoteImage") state.imageId = `sha256:${args.name}`;
                return { id: `${args.name}-id`, state };
            },
            call(args) {
                throw new Error(`unexpected call to ${args.token}`);
            },
        },
        "pgtopo",
        "unit",
        false,
    );
});

const registered = () => (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
const resolve = <T>(o: pulumi.Output<T>) => new Promise<T>((res) => o.apply(res));
const find = (type: string, name: string) => {
    const r = recorded.find((x) => x.type === type && x.name === name);
    if (!r) throw new Error(`no ${type} named ${name}; have ${recorded.map((x) => x.name).join(", ")}`);
    return r;
};

describe("the router of pgtopo:endpoints as resources", () => {
    let endpoints: Record<string, string> | undefined;
    let multiHost: string;

    beforeAll(async () => {
        const { ClusterConvergence, PostgresCluster } = await import("../../components");
        const config = parseClusterConfig({
            primary: "pg-1",
            nodes: [
                { name: "pg-1", port: 15432 },
                { name: "pg-2", port: 15433 },
            ],
            endpoints: { rw: { port: 16432 }, ro: { port: 16433 } },
        });
        const cluster = new PostgresCluster("pgtopo", { stack: "unit", config, plan: planTopology(config, "unit") });
        new ClusterConvergence("pgtopo-convergence", { cluster }, { parent: cluster });
        await registered();
        endpoints = await resolve(cluster.endpoints!);
        multiHost = await resolve(cluster.multiHostUrl);
    });

    it("builds the router image from trixie's PgBouncer, locally, kept across stacks", () => {
        const image = find("docker:index/remoteImage:RemoteImage", "pgtopo-router-image-build");
        expect(image.inputs.name).toBe("pgtopo/pgbouncer:1.24");
        expect(image.inputs.keepLocally).toBe(true);
        expect(image.inputs.build.buildArgs).toEqual({ BASE_IMAGE: "pgtopo/debian:trixie" });
    });

    it("publishes the listeners on loopback only, keeps its secrets on a tmpfs and where it points in a volume", () => {
        const container = find("docker:index/container:Container", "pgtopo-router-server");
        expect(container.inputs.name).toBe("pgtopo-unit-router");
        expect(container.inputs.ports).toEqual([
            { internal: 6432, external: 16432, ip: "127.0.0.1" },
            { internal: 6433, external: 16433, ip: "127.0.0.1" },
        ]);
        expect(container.inputs.tmpfs).toEqual({ "/run/pgtopo-router": "rw,size=16m,mode=0700" });
        expect(container.inputs.volumes[0]).toEqual({
            volumeName: "pgtopo-unit-router-data",
            containerPath: "/var/lib/pgtopo-router",
        });
        expect(container.inputs.networksAdvanced).toEqual([{ name: "pgtopo-unit-net", aliases: ["router"] }]);
        expect(container.inputs.labels).toEqual([
            { label: "pgtopo.stack", value: "unit" },
            { label: "pgtopo.router", value: "router" },
        ]);
        // The lookup role's password only in its environment, a secret in the state.
        const envs = container.inputs.envs;
        expect(envs[SECRET_SIG]).toBeDefined();
        expect(envs.value).toContain(`PGTOPO_ROUTER_PASSWORD=${GENERATED}`);
        expect(envs.value).toEqual(
            expect.arrayContaining([
                "PGTOPO_ROUTER_POOL_MODE=transaction",
                "PGTOPO_TLS=off",
                "PGTOPO_ROUTER_NAME=router",
            ]),
        );
    });

    it("is removed by its own step, with its volume; makes its lookup role on the primary after the converge step", () => {
        expect(find("command:local:Command", "pgtopo-router-removal").inputs.delete).toBe(
            "bash scripts/unless-gone.sh 'container pgtopo-unit-router and volume pgtopo-unit-router-data' bash scripts/remove-node.sh pgtopo-unit-router '' pgtopo-unit-router-data",
        );
        const auth = find("command:local:Command", "pgtopo-router-auth");
        expect(auth.inputs.create).toBe("docker exec -e PGTOPO_ROUTER_PASSWORD pgtopo-unit-pg-1 pgtopo-router-auth");
        expect(auth.inputs.environment[SECRET_SIG]).toBeDefined();
    });

    it("outputs rw and ro through the router, and every node in one read-write libpq URI", () => {
        expect(endpoints).toEqual({
            rw: `postgresql://postgres:${GENERATED}@127.0.0.1:16432/postgres?target_session_attrs=read-write`,
            ro: `postgresql://postgres:${GENERATED}@127.0.0.1:16433/postgres`,
        });
        expect(multiHost).toBe(
            `postgresql://postgres:${GENERATED}@127.0.0.1:15432,127.0.0.1:15433/postgres?target_session_attrs=read-write`,
        );
    });
});

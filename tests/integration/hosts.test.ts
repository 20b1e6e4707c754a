import { execFile } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { dockerCertDir } from "../../ops/docker";
import { docker, NODE_IMAGE } from "../support/docker";
import { query } from "../support/postgres";
import { startTestHosts, type TestHosts } from "../support/hosts";
import { freePorts, TestStack, type ClusterSpec } from "../support/stack";
import { status } from "../support/status";
import { switchOverUnderWrites } from "../support/switchover";
import { PoolApplication } from "../support/pool-app";

const run = promisify(execFile);

/**
 * pgtopo:hosts (issue 12): a 1 + 2 cascade with one node per Docker host. The hosts are
 * three Docker engines this test starts, each in its own network namespace with its own
 * address on a bridge the test makes (scripts/test-hosts.sh), so that replication really
 * crosses between namespaces, as between machines. This machine talks to them only on
 * those addresses, from the bridge's own address (10.250.0.1), which is the stack's one
 * pgtopo:clients entry and not a cluster host.
 */
describe("pgtopo:hosts: nodes on three Docker hosts, over TLS", () => {
    let stack: TestStack;
    let spec: ClusterSpec;
    let urls: Record<string, string>;
    /** The hosts t1, t2, t3 (netns pgtopo-t1.., engines on 10.250.0.11..). */
    let testHosts: TestHosts;
    let hosts: TestHosts["hosts"];
    const WAIT = { timeout: 90_000, interval: 500 };
    const onHost = (host: string, ...args: string[]) => testHosts.docker(host, ...args);

    /** The upstream's view of a standby's replication connection: TLS or not, and from where. */
    const replication = async (upstream: string, standby: string) =>
        query<{ ssl: boolean; client: string }>(
            urls[upstream],
            "SELECT s.ssl, host(r.client_addr) AS client FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = $1",
            [standby],
        );
    const count = async (node: string) =>
        (await query<{ n: number }>(urls[node], "SELECT count(*)::int AS n FROM ids"))[0].n;

    beforeAll(async () => {
        // t3's engine is reached over tcp:// with TLS (client certificates), the others over
        // their Unix sockets, as ssh:// would be.
        testHosts = await startTestHosts(3, { group: "t", net: 250, tls: [3] });
        hosts = testHosts.hosts;
        expect(hosts.t3.docker).toMatch(/^tcp:\/\//);
        expect(Object.keys(hosts)).toEqual(["t1", "t2", "t3"]);
        // One port on every host, as a real deployment would (unique per host only).
        const [port, rwPort, roPort] = await freePorts(3);
        stack = await TestStack.create("hosts");
        spec = {
            primary: "pg-1",
            hosts,
            clients: [testHosts.here],
            // A router on every host (pgtopo:endpoints), each on its host's address.
            endpoints: { rw: { port: rwPort }, ro: { port: roPort } },
            nodes: [
                { name: "pg-1", port, host: "t1" },
                { name: "pg-2", port, host: "t2" },
                { name: "pg-3", port, host: "t3", upstream: "pg-2" },
            ],
        };
        await stack.configure(spec);
        await stack.timedUp("1 + 2 cascade on three hosts, cold (image loaded onto each)");
        urls = await stack.connectionStrings();
    });

    afterAll(async () => {
        try {
            if (stack) await stack.dispose();
            // The tcp:// engine's client certificate, written for pgtopo's docker CLI steps, went with the stack.
            if (hosts?.t3) expect(existsSync(dockerCertDir(hosts.t3.docker))).toBe(false);
        } finally {
            // Nothing of the hosts stays behind, their data roots neither.
            await testHosts?.remove();
        }
    });

    it("runs each node on its own host, and streams every replication connection over TLS between the hosts", async () => {
        for (const [node, host] of [
            ["pg-1", "t1"],
            ["pg-2", "t2"],
            ["pg-3", "t3"],
        ]) {
            expect(await onHost(host, "ps", "--filter", `name=^${stack.container(node)}$`, "--format", "{{.Names}}")).toBe(stack.container(node)); // prettier-ignore
            expect(new URL(urls[node]).host).toBe(`${hosts[host].address}:${spec.nodes.find((n) => n.name === node)!.port}`); // prettier-ignore
        }
        // Nothing of the stack on this machine's own engine.
        expect(await docker("ps", "-a", "--filter", `label=pgtopo.stack=${stack.name}`, "-q")).toBe("");
        for (const [upstream, standby, from] of [
            ["pg-1", "pg-2", "t2"],
            ["pg-2", "pg-3", "t3"],
        ]) {
            await vi.waitFor(async () => {
                expect(await replication(upstream, standby)).toEqual([{ ssl: true, client: hosts[from].address }]);
            }, WAIT);
            const [{ conninfo }] = await query<{ conninfo: string }>(urls[standby], "SELECT current_setting('primary_conninfo') AS conninfo"); // prettier-ignore
            const up = spec.nodes.find((n) => n.name === upstream)!;
            expect(conninfo).toContain(`host=${hosts[up.host!].address} port=${up.port} `);
            expect(conninfo).toContain("sslmode=verify-full");
        }
        // pgtopo's own docker CLI steps read t3's client certificate from here, this user's only.
        expect(statSync(dockerCertDir(hosts.t3.docker)).mode & 0o777).toBe(0o700);
        // The tcp:// engine's client key went to the provider as a secret: nowhere in plain text in the state.
        const keyBody = hosts.t3.tls!.key.split("\n")[1];
        expect(readFileSync(stack.stateFile(), "utf8")).not.toContain(keyBody);
        const healthy = await status(stack.name, "--json");
        expect(healthy.code, healthy.stdout).toBe(0);
        const nodes = JSON.parse(healthy.stdout).nodes as { name: string; tls: boolean | null; upstream: string | null }[]; // prettier-ignore
        expect(nodes.map((n) => [n.name, n.upstream, n.tls])).toEqual([["pg-1", null, null], ["pg-2", "pg-1", true], ["pg-3", "pg-2", true]]); // prettier-ignore
    });

    it("refuses a plaintext replication connection from a host not in the cluster, and replication over TLS from it too", async () => {
        const node = spec.nodes[0];
        const attempt = (sslmode: string) =>
            docker(
                "run", "--rm", "--network", "host", "--entrypoint", "psql", NODE_IMAGE,
                `host=${hosts.t1.address} port=${node.port} user=replicator dbname=postgres replication=true sslmode=${sslmode} connect_timeout=5`,
                "-c", "IDENTIFY_SYSTEM",
            ); // prettier-ignore
        const refused = (why: string) =>
            new RegExp(
                `no pg_hba\\.conf entry for replication connection from host "${testHosts.here.replace(/\./g, "\\.")}".*${why}`,
            );
        await expect(attempt("disable")).rejects.toThrow(refused("no encryption"));
        await expect(attempt("require")).rejects.toThrow(refused("SSL encryption"));
    });

    it("switches over between hosts under a recording writer, and Pools through the routers of two hosts: no committed id lost, no client error", async () => {
        // rw is one URI over every host's router; node-postgres takes one host: a Pool on t1's, one on t3's.
        const { rw } = await stack.endpoints();
        // (A multi-host URI is no WHATWG URL: its hosts are read as text.)
        const hostList = rw!.match(/@([^/]+)\//)![1];
        expect(hostList.split(",")).toEqual(
            ["t1", "t2", "t3"].map((h) => `${hosts[h].address}:${spec.endpoints!.rw!.port}`),
        );
        const through = (host: string) => rw!.replace(hostList, `${hosts[host].address}:${spec.endpoints!.rw!.port}`);
        await query(urls["pg-1"], "CREATE TABLE pooled (id int PRIMARY KEY)");
        const apps = [new PoolApplication(through("t1"), "pooled", 8, 1), new PoolApplication(through("t3"), "pooled", 8, 1_000_000)]; // prettier-ignore
        for (const app of apps) app.start();
        await vi.waitFor(() => apps.forEach((app) => expect(app.acknowledged.length).toBeGreaterThan(20)), WAIT);

        const label = "switchover pg-1 (t1) -> pg-2 (t2), routers on every host";
        await switchOverUnderWrites({ stack, spec, urls, to: "pg-2", label, wait: WAIT });
        const moved = apps.map((app) => app.acknowledged.length);
        await vi.waitFor(() => apps.forEach((app, i) => expect(app.acknowledged.length).toBeGreaterThan(moved[i] + 20)), WAIT); // prettier-ignore
        for (const app of apps) await app.stop();
        expect(apps.flatMap((app) => app.errors.map((e) => e.message))).toEqual([]);
        const acknowledged = apps.flatMap((app) => app.acknowledged);
        const [row] = await query<{ n: number }>(urls["pg-2"], "SELECT count(*)::int AS n FROM pooled WHERE id = ANY($1::int[])", [acknowledged]); // prettier-ignore
        expect(row.n).toBe(acknowledged.length);
        // Every router points rw at pg-2, on t2's address.
        for (const host of ["t1", "t2", "t3"]) {
            const [{ node }] = await query<{ node: string }>(through(host), "SELECT replace(pg_read_file('/etc/hostname'), E'\\n', '') AS node"); // prettier-ignore
            expect(node, `behind the router on ${host}`).toBe("pg-2");
        }
        for (const [standby, from] of [
            ["pg-1", "t1"],
            ["pg-3", "t3"],
        ]) {
            await vi.waitFor(async () => {
                expect(await replication("pg-2", standby)).toEqual([{ ssl: true, client: hosts[from].address }]);
            }, WAIT);
        }
        const healthy = await status(stack.name);
        expect(healthy.code, healthy.stdout).toBe(0);
    });

    it("lets a standby whose host was cut off catch up once its link is back", async () => {
        const before = await count("pg-2");
        await testHosts.cut(3);
        try {
            await query(urls["pg-2"], "INSERT INTO ids SELECT g FROM generate_series(1000001, 1000500) g");
            // pg-3 is unreachable meanwhile: the test talks to it only through its host's address.
            await expect(query(urls["pg-3"], "SELECT 1")).rejects.toThrow();
        } finally {
            await testHosts.restore(3);
        }
        await vi.waitFor(async () => expect(await count("pg-3")).toBe(before + 500), WAIT);
        await vi.waitFor(async () => {
            expect(await replication("pg-2", "pg-3")).toEqual([{ ssl: true, client: hosts.t3.address }]);
            const healthy = await status(stack.name);
            expect(healthy.code, healthy.stdout).toBe(0);
        }, WAIT);
    });

    it("fails over away from a lost primary only once the user says its host is gone; back, it rejoins as a standby with its cut-off writes kept aside", async () => {
        // pg-2 (t2) is the primary; pg-1 and pg-3 stream from it. Its host is lost: its link
        // and its Docker engine.
        const failover: ClusterSpec = {
            ...spec,
            primary: "pg-1",
            nodes: spec.nodes.map((n) => (n.name === "pg-3" ? { ...n, upstream: "pg-1" } : n)),
        };
        const escaped = (text: string) => text.replace(/\./g, "\\.");
        await testHosts.cut(2, { engine: true });
        try {
            // A client on that host still writes to it, as a cut-off primary's own clients can.
            const cutOff = `${hosts.t2.docker}.cut`;
            await run("docker", ["-H", cutOff, "exec", "-u", "postgres", stack.container("pg-2"), "psql", "-XAtq", "-d", "postgres",
                "-c", "INSERT INTO ids SELECT g FROM generate_series(2000001, 2000100) g"]); // prettier-ignore

            // Without the user's word, nothing changes: pgtopo cannot fence what it cannot reach.
            await stack.configure(failover);
            await expect(stack.up()).rejects.toThrow(
                new RegExp(`pgtopo:hosts\\.t2: its Docker engine \\(${escaped(hosts.t2.docker)}\\) cannot be reached: .*set pgtopo:hosts\\.t2\\.gone: true to fail over without it`), // prettier-ignore
            );
            const [{ standby }] = await query<{ standby: boolean }>(
                urls["pg-1"],
                "SELECT pg_is_in_recovery() AS standby",
            );
            expect(standby).toBe(true);

            // With it: pg-1 promoted, pg-3 re-pointed to it, nothing done on t2.
            await stack.configure({ ...failover, hosts: { ...hosts, t2: { ...hosts.t2, gone: true } } });
            await stack.timedUp("failover to pg-1 (t1), host t2 marked gone");
            await query(urls["pg-1"], "INSERT INTO ids SELECT g FROM generate_series(3000001, 3000100) g");
            await vi.waitFor(async () => {
                expect(await replication("pg-1", "pg-3")).toEqual([{ ssl: true, client: hosts.t3.address }]);
                const [row] = await query<{ n: number }>(urls["pg-3"], "SELECT count(*)::int AS n FROM ids WHERE id > 3000000"); // prettier-ignore
                expect(row.n).toBe(100);
            }, WAIT);
            const degraded = await status(stack.name);
            expect(degraded.code, degraded.stdout).toBe(1);
            expect(degraded.stdout).toContain("marked gone");
        } finally {
            await testHosts.restore(2);
        }

        // The host is back and 'gone' removed: its old primary is fenced and rejoins as a
        // standby of pg-1; what it took while cut off is kept aside, not merged, not dropped.
        await stack.configure(failover);
        await stack.timedUp("host t2 back: its old primary fenced, rewound, rejoined");
        await vi.waitFor(async () => {
            expect(await replication("pg-1", "pg-2")).toEqual([{ ssl: true, client: hosts.t2.address }]);
        }, WAIT);
        const [merged] = await query<{ n: number }>(urls["pg-1"], "SELECT count(*)::int AS n FROM ids WHERE id BETWEEN 2000001 AND 2000100"); // prettier-ignore
        expect(merged.n).toBe(0);
        const kept = await onHost("t2", "run", "--rm", "-v", `pgtopo-${stack.name}-pg-2-data:/data:ro`, "--entrypoint", "sh", NODE_IMAGE,
            "-c", "cat /data/pgdata.diverged-*/DIVERGED.txt"); // prettier-ignore
        expect(kept).toMatch(/^WAL of pg-2 from [0-9A-F]+\/[0-9A-F]+ \(timeline \d+\)/);
        await vi.waitFor(async () => {
            const [row] = await query<{ n: number }>(urls["pg-2"], "SELECT count(*)::int AS n FROM ids WHERE id > 3000000"); // prettier-ignore
            expect(row.n).toBe(100);
        }, WAIT);
    });

    it("grows, re-points and shrinks across hosts: a second node on a host, cascading from another host, then from its neighbour", async () => {
        // pg-1 (t1) is the primary now; pg-2 (t2) and pg-3 (t3) stream from it.
        // Beside pg-2 on t2: a port of its own there.
        const port = spec.nodes[0].port + 1;
        const base = spec.nodes.map((n) => (n.name === "pg-3" ? { ...n, upstream: "pg-1" } : n));
        // ro takes one port for every node (PgBouncer 1.24's host lists), so it goes in the
        // same edit: every router is replaced without its ro listener, and gets it back when
        // pg-4 goes.
        const grown: ClusterSpec = {
            ...spec,
            primary: "pg-1",
            nodes: [...base, { name: "pg-4", port, host: "t2", upstream: "pg-3" }],
            endpoints: { rw: spec.endpoints!.rw },
        };
        await stack.configure(grown);
        await stack.timedUp("grow: pg-4 on t2, cascading from pg-3 on t3");
        urls = await stack.connectionStrings();
        await vi.waitFor(async () => {
            expect(await replication("pg-3", "pg-4")).toEqual([{ ssl: true, client: hosts.t2.address }]);
        }, WAIT);
        const [row] = await query<{ n: number }>(urls["pg-4"], "SELECT count(*)::int AS n FROM ids WHERE id > 3000000");
        expect(row.n).toBe(100);

        // Re-pointed to the node beside it on t2: a reload, no restart, no re-clone.
        const pg4 = grown.nodes.map((n) => (n.name === "pg-4" ? { ...n, upstream: "pg-2" } : n));
        await stack.configure({ ...grown, nodes: pg4 });
        const startedAt = () => onHost("t2", "inspect", "-f", "{{.State.StartedAt}}", stack.container("pg-4"));
        const before = await startedAt();
        await stack.timedUp("re-point pg-4 to pg-2, its neighbour on t2");
        await vi.waitFor(async () => {
            expect(await replication("pg-2", "pg-4")).toEqual([{ ssl: true, client: expect.any(String) }]);
            expect(await replication("pg-3", "pg-4")).toEqual([]);
        }, WAIT);
        expect(await startedAt()).toBe(before); // not restarted, so not re-cloned either
        const healthy = await status(stack.name);
        expect(healthy.code, healthy.stdout).toBe(0);

        // Shrunk again: its container goes from t2, its slot from pg-2.
        await stack.configure({ ...spec, primary: "pg-1", nodes: base });
        await stack.timedUp("shrink: pg-4 removed");
        expect(await onHost("t2", "ps", "-aq", "--filter", `name=^${stack.container("pg-4")}$`)).toBe("");
        const slots = await query<{ slot_name: string }>(urls["pg-2"], "SELECT slot_name FROM pg_replication_slots");
        expect(slots.map((s) => s.slot_name)).not.toContain("pgtopo_pg_4");
        // ro is back on every router, over the standbys.
        const { ro } = await stack.endpoints();
        const roList = ro!.match(/@([^/]+)\//)![1];
        for (const [host, h] of Object.entries(hosts)) {
            const [{ standby }] = await query<{ standby: boolean }>(
                ro!.replace(roList, `${h.address}:${spec.endpoints!.ro!.port}`),
                "SELECT pg_is_in_recovery() AS standby",
            );
            expect(standby, `ro behind the router on ${host}`).toBe(true);
        }
        expect((await status(stack.name)).code).toBe(0);
    });

    it("loses a host for good: its node is removed and the stack destroyed without it, saying what was left there", async () => {
        // pg-1 (t1) is the primary; pg-2 (t2) and pg-3 (t3) stream from it. t2 is lost, link
        // and engine, and never comes back.
        await testHosts.cut(2, { engine: true });
        try {
            const lost: ClusterSpec = {
                ...spec,
                primary: "pg-1",
                hosts: { ...hosts, t2: { ...hosts.t2, gone: true } },
                nodes: spec.nodes
                    .filter((n) => n.name !== "pg-2")
                    .map((n) => (n.name === "pg-3" ? { ...n, upstream: "pg-1" } : n)),
            };
            await stack.configure(lost);
            const logged = stack.log.length;
            await stack.timedUp("pg-2 removed from t2, marked gone and cut off");
            const said = stack.log.slice(logged).join("\n");
            expect(said).toContain(
                `${hosts.t2.docker} is marked gone (pgtopo:hosts.NAME.gone), so it was not contacted: container ${stack.container("pg-2")} left there`,
            );
            // Its slot on the survivor is dropped: it would hold WAL for nobody.
            const slots = await query<{ slot_name: string }>(
                urls["pg-1"],
                "SELECT slot_name FROM pg_replication_slots",
            );
            expect(slots.map((s) => s.slot_name)).toEqual(["pgtopo_pg_3"]);
            const healthy = await status(stack.name);
            expect(healthy.code, healthy.stdout).toBe(0);

            // The stack goes, with t2 still cut off: everything on t1 and t3, and a sentence for t2.
            const before = stack.log.length;
            await stack.destroy();
            const destroyed = stack.log.slice(before).join("\n");
            expect(destroyed).toContain(
                `${hosts.t2.docker} is marked gone (pgtopo:hosts.NAME.gone), so it was not contacted: the stack's containers, volumes and network (pgtopo.stack=${stack.name}) left there`,
            );
            for (const host of ["t1", "t3"]) {
                const label = `label=pgtopo.stack=${stack.name}`;
                expect(await onHost(host, "ps", "-aq", "--filter", label), host).toBe("");
                expect(await onHost(host, "volume", "ls", "-q", "--filter", label), host).toBe("");
                expect(await onHost(host, "network", "ls", "-q", "--filter", label), host).toBe("");
            }
        } finally {
            await testHosts.restore(2);
        }
    });
});

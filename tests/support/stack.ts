import { LocalWorkspace, type Stack, type UpResult } from "@pulumi/pulumi/automation";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import * as path from "node:path";
import { promisify } from "node:util";
import { stackNames } from "../../contract/names";
import { docker } from "./docker";

const execFileAsync = promisify(execFile);

export const PROJECT_DIR = path.resolve(__dirname, "..", "..");

export interface NodeSpec {
    name: string;
    port: number;
    upstream?: string;
    /** pgtopo:hosts: the host it runs on. */
    host?: string;
}

export interface ClusterSpec {
    primary: string;
    nodes: NodeSpec[];
    synchronous?: { mode?: "any" | "first"; count?: number; standbys: string[] };
    parameters?: Record<string, string | number | boolean>;
    /** Default: the program's own ("15"). */
    postgresVersion?: string;
    /** pgtopo:backup; absent: backups off. */
    backup?: {
        retention?: { full: number };
        schedule?: string;
        deleteBackupsOnDestroy?: boolean;
        standbysFrom?: "upstream" | "repository";
        archiveAsync?: boolean;
        repositoryHost?: { host?: string; port?: number };
        s3?: {
            endpoint: string;
            bucket: string;
            region?: string;
            prefix?: string;
            uriStyle?: "path" | "host";
            ca?: string;
            accessKey: string;
            secretKey: string;
        };
    };
    /** pgtopo:tls; absent: off. */
    tls?: boolean;
    /** pgtopo:restore; absent: a new cluster starts empty. */
    restore?: { fromStack: string; target?: string };
    /** pgtopo:hosts and pgtopo:clients; absent: every node on the local engine. */
    hosts?: Record<
        string,
        { docker: string; address: string; gone?: boolean; tls?: { ca: string; cert: string; key: string } }
    >;
    clients?: string[];
    /** pgtopo:endpoints; absent: no routers. */
    endpoints?: {
        rw?: { port: number };
        ro?: { port: number };
        pooling?: "transaction" | "session";
        pauseTimeout?: number;
        maxClientConnections?: number;
        poolSize?: number;
    };
}

/** Ports the kernel says are free right now on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
    // Below the kernel's ephemeral range (32768 and up here): a port the kernel handed out
    // to be free could be taken by the next outgoing connection (a test's own pg client)
    // before the stack publishes it, and `up` would then rightly refuse it as in use.
    const ports: number[] = [];
    while (ports.length < count) {
        const port = FIRST_TEST_PORT + Math.floor(Math.random() * (LAST_TEST_PORT - FIRST_TEST_PORT + 1));
        if (!ports.includes(port) && (await bindable(port))) ports.push(port);
    }
    return ports;
}

const FIRST_TEST_PORT = 20000;
const LAST_TEST_PORT = 32000;

function bindable(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const server = createServer();
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
}

/**
 * A throwaway stack of the real pgtopo project (this repository's Pulumi.yaml and
 * index.ts), on the backend and passphrase that scripts/test.sh sets up.
 */
export class TestStack {
    readonly log: string[] = [];

    private constructor(
        readonly name: string,
        readonly stack: Stack,
    ) {}

    static async create(prefix = "it"): Promise<TestStack> {
        const name = `${prefix}-${randomBytes(3).toString("hex")}`;
        const stack = await LocalWorkspace.createOrSelectStack({ stackName: name, workDir: PROJECT_DIR });
        return new TestStack(name, stack);
    }

    /** Replaces the stack's whole pgtopo config with this one. */
    async configure(spec: ClusterSpec): Promise<void> {
        const keys = {
            synchronous: spec.synchronous,
            parameters: spec.parameters,
            backup: spec.backup,
            restore: spec.restore,
            tls: spec.tls,
            hosts: spec.hosts,
            clients: spec.clients,
            endpoints: spec.endpoints,
        };
        // One CLI run for every key to clear (a run of the CLI costs about half a second of
        // CPU, and the integration files share two cores), one for every key to set.
        const cleared = Object.entries({ ...keys, postgresVersion: spec.postgresVersion })
            .filter(([, value]) => value === undefined)
            .map(([key]) => `pgtopo:${key}`);
        if (cleared.length > 0) await this.stack.removeAllConfig(cleared);
        await this.stack.setAllConfig({
            ...(spec.postgresVersion ? { "pgtopo:postgresVersion": { value: spec.postgresVersion } } : {}),
            "pgtopo:primary": { value: spec.primary },
            "pgtopo:nodes": { value: JSON.stringify(spec.nodes) },
            ...Object.fromEntries(
                Object.entries(keys)
                    .filter(([, value]) => value !== undefined)
                    // pgtopo:hosts may carry a tcp:// engine's client key, pgtopo:backup the
                    // object store's keys: secrets, as users set them.
                    .map(([key, value]) => [
                        `pgtopo:${key}`,
                        { value: JSON.stringify(value), secret: key === "hosts" || (key === "backup" && !!spec.backup?.s3) }, // prettier-ignore
                    ]),
            ),
        });
    }

    /** `pulumi up`; with refresh, Pulumi first reads back what Docker really has. */
    async up(options: { refresh?: boolean } = {}): Promise<UpResult> {
        return this.stack.up({ onOutput: (line) => this.log.push(line), color: "never", ...options });
    }

    /** `up`, timed: the figures go to the test output for the closing notes. */
    async timedUp(label: string): Promise<UpResult> {
        const started = performance.now();
        const result = await this.up();
        const seconds = (performance.now() - started) / 1000;
        console.log(`[timing] ${label}: pulumi up ${seconds.toFixed(1)} s`);
        return result;
    }

    /**
     * What a user does after a pulumi CLI was killed (scripts/pulumi.sh cancel): repair
     * what the kill may have left in the file backend, then clear the stack's lock.
     */
    async cancelAfterKill(): Promise<void> {
        await execFileAsync("bash", [path.join(PROJECT_DIR, "scripts", "repair-state.sh")]);
        await this.stack.cancel();
    }

    /** Where the local file backend keeps this stack's state. */
    stateFile(): string {
        const backend = process.env.PULUMI_BACKEND_URL ?? "";
        if (!backend.startsWith("file://")) throw new Error(`not a file backend: ${backend}`);
        return path.join(backend.slice("file://".length), ".pulumi", "stacks", "pgtopo", `${this.name}.json`);
    }

    container(node: string): string {
        return `pgtopo-${this.name}-${node}`;
    }

    async destroy(): Promise<void> {
        await this.stack.destroy({ onOutput: (line) => this.log.push(line), color: "never" });
    }

    /** Destroys what is left and removes the stack and its config file. */
    async dispose(): Promise<void> {
        try {
            await this.destroy();
        } finally {
            await this.stack.workspace.removeStack(this.name, { force: true });
        }
    }

    /**
     * dispose(), then the stack's backup repository volume, which a destroy keeps
     * (deleteBackupsOnDestroy is off), so that no test run leaves volumes behind.
     */
    async disposeWithBackups(): Promise<void> {
        await this.dispose();
        await docker("volume", "rm", "-f", stackNames(this.name).backupVolume).catch(() => undefined);
    }

    /** pgtopo:endpoints: the rw and ro connection strings, through the routers. */
    async endpoints(): Promise<{ rw?: string; ro?: string }> {
        const outputs = await this.stack.outputs();
        return (outputs.endpoints?.value ?? {}) as { rw?: string; ro?: string };
    }

    async connectionStrings(): Promise<Record<string, string>> {
        const outputs = await this.stack.outputs();
        return outputs.connectionStrings.value as Record<string, string>;
    }
}

/**
 * A new stack of the shape `shape(ports)`, given `portCount` free ports, brought up cold
 * (its `up` timed under `label`): the stack, its config and its connection strings.
 */
export async function bringUp(
    prefix: string,
    portCount: number,
    shape: (ports: number[]) => ClusterSpec,
    label: string,
): Promise<{ stack: TestStack; spec: ClusterSpec; urls: Record<string, string>; ports: number[] }> {
    const ports = await freePorts(portCount);
    const stack = await TestStack.create(prefix);
    const spec = shape(ports);
    await stack.configure(spec);
    await stack.timedUp(label);
    return { stack, spec, urls: await stack.connectionStrings(), ports };
}

/** A primary and one standby: pg-1 -> pg-2. */
export function pair(ports: readonly number[]): NodeSpec[] {
    return [
        { name: "pg-1", port: ports[0] },
        { name: "pg-2", port: ports[1] },
    ];
}

/** A primary, a standby, and a standby of that standby: pg-1 -> pg-2 -> pg-3. */
export function cascadeOfThree(ports: readonly number[]): NodeSpec[] {
    return [
        { name: "pg-1", port: ports[0] },
        { name: "pg-2", port: ports[1] },
        { name: "pg-3", port: ports[2], upstream: "pg-2" },
    ];
}

/**
 * The drift test's and soak's layout: a cascade two deep (pg-1 -> pg-2 -> pg-3) and a
 * second branch (pg-1 -> pg-4), upstreams listed first.
 */
export function cascadeOfFour(ports: readonly number[]): NodeSpec[] {
    return [
        { name: "pg-1", port: ports[0] },
        { name: "pg-2", port: ports[1] },
        { name: "pg-4", port: ports[3] },
        { name: "pg-3", port: ports[2], upstream: "pg-2" },
    ];
}

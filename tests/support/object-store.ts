import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { PROJECT_DIR, type ClusterSpec } from "./stack";

const run = promisify(execFile);
const SCRIPT = path.join(PROJECT_DIR, "scripts", "test-object-store.sh");

/**
 * The backup tests' object store: SeaweedFS serving S3 over TLS in a network namespace of
 * its own (scripts/test-object-store.sh), as a user's S3-compatible store would be.
 */
export interface TestObjectStore {
    /** pgtopo:backup.s3 for it (its CA, its keys). */
    readonly s3: NonNullable<NonNullable<ClusterSpec["backup"]>["s3"]>;
    /** Takes it off the network: it keeps running, and nothing reaches it. */
    cut(): Promise<void>;
    /** Puts it back. */
    restore(): Promise<void>;
    /** Stops it and removes its data. */
    remove(): Promise<void>;
}

/**
 * Starts the store `name` on a bridge of its own (10.`net`.0.0/24): test files that run at
 * the same time each use their own name and net (the benches the defaults, "main" on 249).
 */
export async function startTestObjectStore(options: { name?: string; net?: number } = {}): Promise<TestObjectStore> {
    const env = {
        ...process.env,
        PGTOPO_TEST_S3_NAME: options.name ?? "main",
        PGTOPO_TEST_S3_NET: String(options.net ?? 249),
    };
    const script = async (...args: string[]) =>
        (await run("bash", [SCRIPT, ...args], { maxBuffer: 8 << 20, env })).stdout.trim();
    const [endpoint, bucket, caFile, accessKey, secretKey] = (await script("up")).split(" ");
    return {
        s3: { endpoint, bucket, ca: readFileSync(caFile, "utf8"), accessKey, secretKey },
        cut: async () => void (await script("cut")),
        restore: async () => void (await script("restore")),
        remove: async () => void (await script("down")),
    };
}

import { expect, vi } from "vitest";
import { query } from "./postgres";
import type { ClusterSpec } from "./stack";
import { RecordingWriter } from "./writer";

/**
 * The switchover check the suites share: a RecordingWriter on a new table `ids`, `up` with
 * `to` as primary once writes flow, then every id whose COMMIT returned must be on `to`.
 * Returns the committed ids, for checks on the other nodes.
 */
export async function switchOverUnderWrites(options: {
    readonly stack: { configure(spec: ClusterSpec): Promise<void>; timedUp(label: string): Promise<unknown> };
    readonly spec: ClusterSpec;
    readonly urls: Record<string, string>;
    readonly to: string;
    readonly label: string;
    readonly wait: { timeout: number; interval: number };
}): Promise<number[]> {
    const { stack, spec, urls, to, wait } = options;
    await query(urls[spec.primary], "CREATE TABLE ids (id int PRIMARY KEY)");
    const writer = new RecordingWriter(urls, "ids").start();
    await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(20), wait);
    await stack.configure({ ...spec, primary: to });
    await stack.timedUp(options.label);
    await vi.waitFor(() => expect(writer.committed.length).toBeGreaterThan(60), wait);
    await writer.stop();
    const committed = [...writer.committed];
    await vi.waitFor(async () => {
        const [row] = await query<{ n: number }>(urls[to], "SELECT count(*)::int AS n FROM ids WHERE id = ANY($1::int[])", [committed]); // prettier-ignore
        expect(row.n).toBe(committed.length);
    }, wait);
    return committed;
}

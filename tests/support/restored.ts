import { expect, vi } from "vitest";
import { query } from "./postgres";

/**
 * A stack restored to a time between a writer's commits and a later batch (ids above
 * `after`): on each of its nodes, every committed id, and none of the batch.
 */
export async function expectRestoredBetween(
    urls: Record<string, string>,
    nodes: readonly string[],
    committed: readonly number[],
    after: number,
    wait: { timeout: number; interval: number },
): Promise<void> {
    for (const node of nodes) {
        await vi.waitFor(async () => {
            const [row] = await query<{ n: number; after: number }>(
                urls[node],
                "SELECT count(*) FILTER (WHERE id = ANY($1::int[]))::int AS n, count(*) FILTER (WHERE id > $2)::int AS after FROM ids",
                [committed, after],
            );
            expect(row, `the restored ${node}`).toEqual({ n: committed.length, after: 0 });
        }, wait);
    }
}

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { docker } from "../support/docker";
import { query } from "../support/postgres";
import { bringUp, freePorts, pair, TestStack, type ClusterSpec } from "../support/stack";
import { status } from "../support/status";

/**
 * Issue 19, parts 2 and 3: what users do to a stack over weeks. Steps of one `up` that
 * touch the same node must not race (a settings step that restarts a node, and the
 * converge step that looks at or changes its role), in either direction. A change of
 * primary must never take a full backup, so that retention keeps the one made when backups
 * were turned on, and a restore to a time before two switchovers still works.
 */
const WAIT = { timeout: 60_000, interval: 500 };

/** A 1 + 1 stack of its own for each part. */
const pairUp = (prefix: string, extra: Partial<ClusterSpec> = {}) =>
    bringUp(prefix, 2, (ports) => ({ primary: "pg-1", nodes: pair(ports), ...extra }), `${prefix}: 1 + 1, cold`);

/** pg-1 or pg-2 the primary, the other streaming from it; status healthy; a next up changes nothing. */
async function expectSettled(
    stack: TestStack,
    urls: Record<string, string>,
    primary: string,
    standby: string,
): Promise<void> {
    const [p] = await query<{ r: boolean }>(urls[primary], "SELECT pg_is_in_recovery() AS r");
    expect(p.r, `${primary} is the primary`).toBe(false);
    await vi.waitFor(async () => {
        const [s] = await query(
            urls[standby],
            "SELECT pg_is_in_recovery() AS standby, (SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming') AS upstream",
        );
        expect(s).toEqual({ standby: true, upstream: primary });
    }, WAIT);
    const healthy = await status(stack.name);
    expect(healthy.code, healthy.stdout).toBe(0);
    const again = await stack.up();
    expect(Object.keys(again.summary.resourceChanges ?? {}), "the up after").toEqual(["same"]);
}

async function fullBackups(stack: TestStack, node: string) {
    const out = await docker("exec", "-u", "postgres", stack.container(node), "pgbackrest", "info", "--output=json");
    return (JSON.parse(out)[0].backup as { type: string; label: string }[]).filter((b) => b.type === "full");
}

describe("one up, several changes to the same nodes", () => {
    let stack: TestStack;
    let spec: ClusterSpec;
    let urls: Record<string, string>;
    const setting = async (node: string, name: string) =>
        (await query<{ v: string }>(urls[node], `SELECT current_setting('${name}') AS v`))[0].v;

    beforeAll(async () => ({ stack, spec, urls } = await pairUp("mc")));
    afterAll(async () => {
        if (stack) await stack.dispose();
        await docker("volume", "rm", "-f", `pgtopo-${stack.name}-backups`).catch(() => undefined);
    });

    it("turns backups on (a restart of every node for archive_mode) in the same up that starts a stopped standby", async () => {
        // The drift makes the converge step run; archive_mode makes the settings steps restart
        // every node. Before issue 19 the two ran at once: "pg-1 cannot be promoted: it does not answer".
        await docker("stop", stack.container("pg-2"));
        spec = { ...spec, backup: {} };
        await stack.configure(spec);
        await stack.timedUp("stopped standby + backups turned on, in one up");
        expect(await fullBackups(stack, "pg-1")).toHaveLength(1);
        await expectSettled(stack, urls, "pg-1", "pg-2");
    });

    it("names another primary and changes parameters (one needing a restart) in the same edit", async () => {
        // Before issue 19 the old primary's settings step ran while the converge step shut it down.
        spec = { ...spec, primary: "pg-2", parameters: { work_mem: "8MB", max_connections: 120 } };
        await stack.configure(spec);
        await stack.timedUp("switchover to pg-2 + parameters (reload and restart), in one up");
        for (const node of ["pg-1", "pg-2"]) {
            expect(await setting(node, "work_mem"), node).toBe("8MB");
            expect(await setting(node, "max_connections"), node).toBe("120");
        }
        await expectSettled(stack, urls, "pg-2", "pg-1");
    });
});

describe("two switchovers with backups on, then a restore to a time before them", () => {
    let stack: TestStack;
    let spec: ClusterSpec;
    let urls: Record<string, string>;

    beforeAll(async () => ({ stack, spec, urls } = await pairUp("sw2", { backup: { retention: { full: 2 } } })));
    afterAll(async () => {
        if (stack) await stack.dispose();
        await docker("volume", "rm", "-f", `pgtopo-${stack.name}-backups`).catch(() => undefined);
    });

    it("takes no full backup at either switchover, so retention keeps the first, and a restore before both works", async () => {
        await query(urls["pg-1"], "CREATE TABLE marks (id int PRIMARY KEY)");
        await query(urls["pg-1"], "INSERT INTO marks SELECT generate_series(1, 100)");
        await new Promise((r) => setTimeout(r, 1100));
        const [{ target }] = await query<{ target: string }>(urls["pg-1"], "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS target"); // prettier-ignore
        await new Promise((r) => setTimeout(r, 1100));
        await query(urls["pg-1"], "INSERT INTO marks SELECT generate_series(101, 200)");

        for (const [primary, standby] of [
            ["pg-2", "pg-1"],
            ["pg-1", "pg-2"],
        ]) {
            spec = { ...spec, primary };
            await stack.configure(spec);
            const logged = stack.log.length;
            await stack.timedUp(`switchover to ${primary} with backups on`);
            // The first backup's step does not run again because the primary changed.
            expect(stack.log.slice(logged).join("\n")).not.toContain("pgtopo-first-backup");
            await expectSettled(stack, urls, primary, standby);
        }
        // retention.full is 2: a full backup at each change of primary would have expired the first.
        expect(await fullBackups(stack, "pg-1")).toHaveLength(1);

        const ports = await freePorts(1);
        const copy = await TestStack.create("sw2r");
        try {
            await copy.configure({
                primary: "pg-1",
                nodes: [{ name: "pg-1", port: ports[0] }],
                restore: { fromStack: stack.name, target },
            });
            await copy.timedUp(`restore to ${target}, before both switchovers`);
            const [url] = Object.values(await copy.connectionStrings());
            const [row] = await query<{ before: number; after: number }>(
                url,
                "SELECT count(*) FILTER (WHERE id <= 100)::int AS before, count(*) FILTER (WHERE id > 100)::int AS after FROM marks",
            );
            expect(row).toEqual({ before: 100, after: 0 });
        } finally {
            await copy.dispose();
        }
    });

    it("takes a full backup again on the next up when the repository holds none", async () => {
        // The stanza deleted by hand, backups and archive with it.
        const pgbackrest = (...args: string[]) =>
            docker("exec", "-u", "postgres", stack.container("pg-1"), "pgbackrest", ...args);
        await pgbackrest("stop");
        await pgbackrest("stanza-delete", "--force");
        await pgbackrest("start");
        const logged = stack.log.length;
        await stack.timedUp("repository emptied by hand: a full backup again");
        expect(stack.log.slice(logged).join("\n")).toContain("pgtopo-first-backup");
        expect(await fullBackups(stack, "pg-1")).toHaveLength(1);
        await pgbackrest("check");
    });
});

import { query } from "./postgres";
import type { ClusterSpec, TestStack } from "./stack";

/** The major of the server behind `url` (15, 17). */
export async function majorAt(url: string): Promise<number> {
    const [row] = await query<{ v: number }>(url, "SELECT current_setting('server_version_num')::int AS v");
    return Math.floor(row.v / 10000);
}

/** How many rows `table` has on the server behind `url`. */
export async function rowsAt(url: string, table: string): Promise<number> {
    return (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM ${table}`))[0].n;
}

/**
 * A shell command for `docker exec CONTAINER bash -c`: the inode of the table's file on that
 * node. The same one after the upgrade means the file was linked, not copied.
 */
export function tableInodeScript(table: string): string {
    return `set -e; file=$(setpriv --reuid=postgres --regid=postgres --init-groups psql -h /var/run/postgresql -d postgres -XAtc "SELECT pg_relation_filepath('${table}')"); test -n "$file"; stat -c %i "$PGDATA/$file"`; // prettier-ignore
}

/**
 * Asks for `version` with a failure injected at the upgrade's step `at`
 * (PGTOPO_UPGRADE_FAIL_AT, read by scripts/upgrade.sh) and runs `up`, which must fail:
 * returns its error message ("" when it did not fail, which the caller's assertions catch).
 */
export async function upWithInjectedFailure(
    stack: TestStack,
    spec: ClusterSpec,
    version: string,
    at: string,
): Promise<string> {
    process.env.PGTOPO_UPGRADE_FAIL_AT = at;
    try {
        await stack.configure({ ...spec, postgresVersion: version });
        return await stack.up().then(
            () => "",
            (err: Error) => err.message,
        );
    } finally {
        delete process.env.PGTOPO_UPGRADE_FAIL_AT;
    }
}

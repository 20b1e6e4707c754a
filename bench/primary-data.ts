import { docker } from "../tests/support/docker";
import { query } from "../tests/support/postgres";

/**
 * The data benches copy around: `pgbench -i` at a scale (100 is about 1.5 GB) in the
 * primary's container, over its socket. Returns the database's size, for the table title.
 */
export async function loadPgbench(container: string, url: string, scale: string): Promise<string> {
    await docker("exec", "-u", "postgres", container,
        "pgbench", "-i", "-q", "-s", scale, "-h", "/var/run/postgresql", "postgres"); // prettier-ignore
    const [{ size }] = await query<{ size: string }>(
        url,
        "SELECT pg_size_pretty(pg_database_size('postgres')) AS size",
    );
    return size;
}

/**
 * The baseline of the copy benches: a bare `pg_basebackup -X stream` of the primary (its
 * container's name on the cluster network is pg-1), as the replication role with its own
 * password, over the cluster network, into the container's /tmp, then removed.
 */
export async function bareBasebackup(container: string): Promise<void> {
    await docker("exec", "-u", "postgres", container, "bash", "-c",
        'PGPASSWORD="$PGTOPO_REPLICATION_PASSWORD" pg_basebackup -h pg-1 -U replicator -D /tmp/bare -X stream -c fast && rm -rf /tmp/bare'); // prettier-ignore
}

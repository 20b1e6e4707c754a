import { REPOSITORY_QUESTION_TIMEOUT, unreadableRepository, type StanzaStatus } from "../planning/backup";
import type { BackupObservation } from "../planning/backup-health";
import { dockerText } from "./docker";

/**
 * pgBackRest's account of the stack's repository and the primary's archiver statistics,
 * asked on the primary as postgres. Undefined when backups are off for the stack (its
 * containers have no pgBackRest settings) or the primary does not answer.
 */
export async function observeBackups(
    primaryContainer: string,
    dockerHost?: string,
): Promise<BackupObservation | undefined> {
    const exec = async (...args: string[]) =>
        dockerText(dockerHost, ["exec", "-u", "postgres", primaryContainer, ...args], { timeout: 20_000 });
    const stanza = await exec("printenv", "PGBACKREST_STANZA").catch(() => "");
    if (!stanza) return undefined;
    const repository = await exec("sh", "-c", REPOSITORY_NAME).catch(() => undefined);
    try {
        const [info, archiver] = await Promise.all([
            exec("pgbackrest", `--io-timeout=${REPOSITORY_QUESTION_TIMEOUT}`, "info", "--output=json"),
            exec("psql", "-XAtq", "-d", "postgres", "-c",
                `SELECT row_to_json(a) FROM (SELECT last_archived_wal, extract(epoch FROM last_archived_time)::float8 AS last_archived,
                        failed_count, last_failed_wal, extract(epoch FROM last_failed_time)::float8 AS last_failed
                 FROM pg_stat_archiver) a`), // prettier-ignore
        ]);
        const repo = JSON.parse(info)[0] as StanzaStatus & {
            status: { code: number; message: string };
            backup: { label: string; type: string; timestamp: { start: number; stop: number } }[];
            archive: { max: string | null }[];
        };
        const a = JSON.parse(archiver) as {
            last_archived_wal: string | null;
            last_archived: number | null;
            failed_count: number;
            last_failed_wal: string | null;
            last_failed: number | null;
        };
        const why = unreadableRepository(repo);
        if (why !== undefined) return { repository, status: `could not be read: ${why}`, unreadable: why, backups: [] };
        return {
            repository,
            status: repo.status.message,
            backups: repo.backup.map((b) => ({
                label: b.label,
                type: b.type,
                stop: new Date(b.timestamp.stop * 1000),
            })),
            archivedUpTo: repo.archive
                .map((x) => x.max)
                .filter((x): x is string => !!x)
                .sort()
                .pop(),
            lastArchived: a.last_archived ? new Date(a.last_archived * 1000) : undefined,
            lastFailure:
                a.last_failed && a.last_failed_wal
                    ? { wal: a.last_failed_wal, at: new Date(a.last_failed * 1000) }
                    : undefined,
        };
    } catch (err) {
        const e = err as { killed?: boolean; stderr?: string; message: string };
        const why = e.killed
            ? "no answer within 20 s"
            : (e.stderr ?? "").trim().split("\n").pop() || e.message.split("\n")[0];
        return { repository, status: `could not be read: ${why}`, unreadable: why, backups: [] };
    }
}

/** The repository as a person names it, from pgBackRest's own settings in the container (no key among them). */
const REPOSITORY_NAME = [
    'if [ "${PGBACKREST_REPO1_TYPE:-posix}" = s3 ]; then',
    '  echo "https://$PGBACKREST_REPO1_S3_ENDPOINT:${PGBACKREST_REPO1_STORAGE_PORT:-443}/$PGBACKREST_REPO1_S3_BUCKET$PGBACKREST_REPO1_PATH";',
    'elif [ -n "${PGBACKREST_REPO1_HOST:-}" ]; then',
    '  addr=$(getent hosts "$PGBACKREST_REPO1_HOST" | cut -d" " -f1);',
    '  echo "the repository host ($PGBACKREST_REPO1_HOST:$PGBACKREST_REPO1_HOST_PORT${addr:+ at $addr})";',
    'else echo "the repository volume"; fi',
].join(" ");

/** What `npm run status` reads about backups (ops/backups.ts). */
export interface BackupObservation {
    /** pgBackRest's status message for the stanza ("ok" when all is well). */
    readonly status: string;
    readonly backups: readonly { readonly label: string; readonly type: string; readonly stop: Date }[];
    /** The newest WAL segment in the repository's archive. */
    readonly archivedUpTo?: string;
    /** When the primary last archived a segment, and its last failure to, if any. */
    readonly lastArchived?: Date;
    readonly lastFailure?: { readonly wal: string; readonly at: Date };
    /** Where the repository is, as a person names it: a volume, or an object store's URL and prefix. */
    readonly repository?: string;
    /** Why pgBackRest could not read the repository (an object store away, say). */
    readonly unreadable?: string;
}

export interface BackupStatus {
    /** One line each: last full and last differential or incremental backup, archive, window. */
    readonly lines: readonly string[];
    /** What makes the cluster unhealthy: archiving that fails, a repository with no backup. */
    readonly differences: readonly string[];
}

const age = (from: Date, now: Date) => {
    const minutes = Math.max(0, Math.round((now.getTime() - from.getTime()) / 60_000));
    if (minutes < 60) return `${minutes} min ago`;
    if (minutes < 48 * 60) return `${Math.round(minutes / 60)} h ago`;
    return `${Math.round(minutes / 1440)} days ago`;
};

/** The backup part of the status, from what was observed. Pure. */
export function assessBackups(primary: string, seen: BackupObservation, now: Date): BackupStatus {
    const differences: string[] = [];
    const lines: string[] = [];
    const full = seen.backups.filter((b) => b.type === "full").at(-1);
    const partial = seen.backups.filter((b) => b.type !== "full").at(-1);
    const where = seen.repository ? ` (${seen.repository})` : "";
    if (seen.unreadable) differences.push(`the backup repository${where} cannot be read: ${seen.unreadable}`);
    else if (seen.status !== "ok") differences.push(`the backup repository${where} says: ${seen.status}`);
    if (seen.unreadable) {
        // What it holds is unknown: no claim about its backups.
    } else if (!full)
        differences.push("backups are on but the repository holds no full backup; take one with 'npm run backup'");
    else lines.push(`last full backup: ${full.label}, ${age(full.stop, now)}`);
    if (partial) lines.push(`last ${partial.type} backup: ${partial.label}, ${age(partial.stop, now)}`);
    if (seen.archivedUpTo) {
        lines.push(
            `WAL archived up to ${seen.archivedUpTo}${seen.lastArchived ? ` (${primary} archived its last ${age(seen.lastArchived, now)})` : ""}`,
        );
    }
    if (seen.backups.length > 0 && seen.lastArchived) {
        lines.push(`recoverable: from ${seen.backups[0].stop.toISOString()} to ${seen.lastArchived.toISOString()}`);
    }
    if (seen.lastFailure && (!seen.lastArchived || seen.lastFailure.at > seen.lastArchived)) {
        differences.push(
            `archiving fails on ${primary}: ${seen.lastFailure.wal} could not be archived (last try ${seen.lastFailure.at.toISOString()})`,
        );
    }
    return { lines, differences };
}

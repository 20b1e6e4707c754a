import type { RestoreConfig } from "../config/schema";
import { lsnToBytes } from "./lsn";

/** What pgBackRest's restore is told: recover everything archived, or stop at a time or an LSN. */
export type RestoreTarget =
    | { readonly type: "latest" }
    | { readonly type: "time"; readonly time: Date }
    | { readonly type: "lsn"; readonly lsn: string };

export function restoreTarget(target: string): RestoreTarget {
    if (target === "latest") return { type: "latest" };
    if (/^[0-9A-F]+\/[0-9A-F]+$/i.test(target)) return { type: "lsn", lsn: target.toUpperCase() };
    return { type: "time", time: new Date(target) };
}

/** The PGTOPO_RESTORE_* environment of the restore one-shot (images/postgres/bin/pgtopo-restore). */
export function restoreEnvironment(restore: RestoreConfig): Record<string, string> {
    const target = restoreTarget(restore.target);
    switch (target.type) {
        case "latest":
            return { PGTOPO_RESTORE_TYPE: "latest", PGTOPO_RESTORE_TARGET: "" };
        case "lsn":
            return { PGTOPO_RESTORE_TYPE: "lsn", PGTOPO_RESTORE_TARGET: target.lsn };
        case "time":
            // As pgBackRest and PostgreSQL both read it: "2026-11-22 08:00:00.000+00".
            return {
                PGTOPO_RESTORE_TYPE: "time",
                PGTOPO_RESTORE_TARGET: target.time.toISOString().replace("T", " ").replace("Z", "+00"),
            };
    }
}

/** What a stack's repository can restore to: from the end of its first backup to its last archived WAL. */
export interface RecoverableWindow {
    readonly from: { readonly time: Date; readonly lsn: string };
    /** The last archived WAL segment: when it was archived, and the LSN where it ends. */
    readonly to: { readonly time: Date; readonly lsn: string };
    /**
     * The source was upgraded (issue 23): its backups before `from` are of this earlier
     * major, which a stack on the later one cannot restore (nor the reverse).
     */
    readonly earlier?: { readonly major: string };
}

/** pgBackRest's `info --output=json` for one stanza, the parts a window is made of. */
export interface StanzaInfo {
    /** The stanza's database history: one entry per major (and system) it has served. */
    readonly db?: readonly { readonly id: number; readonly version: string }[];
    readonly backup?: readonly {
        readonly timestamp: { readonly stop: number };
        readonly lsn: { readonly stop: string };
        readonly database?: { readonly id: number };
    }[];
}

/** An archived WAL file: its path under archive/<stanza> (`<version>-<db id>/...`) and when it was stored. */
export interface ArchivedFile {
    readonly path: string;
    readonly time: number;
}

/**
 * What a stanza can restore to on `major` (the restoring stack's postgresVersion): its
 * backups and archived WAL of that major only. A stanza upgraded from 15 to 17 (pgBackRest
 * stanza-upgrade) holds both; each major restores its own. "no backup" when it has none on
 * `major`; `{ otherMajors }` when it has backups, all of other majors.
 */
export function recoverableWindow(
    info: StanzaInfo | undefined,
    archived: readonly ArchivedFile[],
    major: string | undefined,
): RecoverableWindow | "no backup" | { readonly otherMajors: readonly string[] } {
    const dbs = info?.db ?? [];
    // No history in the listing, or no major asked: all of it.
    const ours = new Set(dbs.filter((d) => major === undefined || d.version === major).map((d) => d.id));
    const mine = (id: number | undefined) => dbs.length === 0 || id === undefined || ours.has(id);
    const allBackups = info?.backup ?? [];
    const backups = allBackups.filter((b) => mine(b.database?.id));
    const archiveIds = new Set(dbs.filter((d) => ours.has(d.id)).map((d) => `${d.version}-${d.id}`));
    const segments = archived
        .map((f) => ({ ...f, file: f.path.split("/").pop()!, archiveId: f.path.split("/")[0] }))
        .filter((f) => /^[0-9A-F]{24}-/.test(f.file) && (dbs.length === 0 || archiveIds.has(f.archiveId)))
        .sort((a, b) => a.time - b.time || a.file.localeCompare(b.file));
    const newest = segments.at(-1);
    if (backups.length === 0 && allBackups.length > 0) {
        const versionOf = new Map(dbs.map((d) => [d.id, d.version]));
        const others = [...new Set(allBackups.map((b) => versionOf.get(b.database?.id ?? -1) ?? "unknown"))].sort();
        return { otherMajors: others };
    }
    if (backups.length === 0 || !newest) return "no backup";
    // An earlier major this stanza holds backups of (the source was upgraded since).
    const earlier = dbs
        .filter((d) => Number(d.version) < Number(major ?? 0))
        .filter((d) => allBackups.some((b) => b.database?.id === d.id))
        .at(-1);
    return {
        from: { time: new Date(backups[0].timestamp.stop * 1000), lsn: backups[0].lsn.stop },
        to: { time: new Date(newest.time * 1000), lsn: segmentEnd(newest.file.slice(0, 24)) },
        ...(earlier ? { earlier: { major: earlier.version } } : {}),
    };
}

/**
 * Why a target cannot be reached from a window (a sentence naming what exists), or
 * undefined when it can. "latest" always can, once there is a backup at all.
 */
export function targetProblem(target: RestoreTarget, window: RecoverableWindow, fromStack: string): string | undefined {
    const range =
        `stack ${fromStack}'s backups reach from ${window.from.time.toISOString()} (${window.from.lsn}) ` +
        `to ${window.to.time.toISOString()} (${window.to.lsn}, its last archived WAL)`;
    const before =
        (target.type === "time" && target.time < window.from.time) ||
        (target.type === "lsn" && lsnToBytes(target.lsn) < lsnToBytes(window.from.lsn));
    if (before && window.earlier) {
        const what = target.type === "time" ? target.time.toISOString() : target.lsn;
        return (
            `pgtopo:restore.target: "${what}" is before stack ${fromStack}'s upgrade from PostgreSQL ${window.earlier.major}: ` +
            `what it backed up before is another major than this stack's postgresVersion, which cannot restore it; ${range}`
        );
    }
    if (target.type === "time" && (target.time < window.from.time || target.time > window.to.time)) {
        return `pgtopo:restore.target: "${target.time.toISOString()}" is outside what can be restored: ${range}`;
    }
    if (
        target.type === "lsn" &&
        (lsnToBytes(target.lsn) < lsnToBytes(window.from.lsn) || lsnToBytes(target.lsn) > lsnToBytes(window.to.lsn))
    ) {
        return `pgtopo:restore.target: "${target.lsn}" is outside what can be restored: ${range}`;
    }
    return undefined;
}

/** The LSN just past the end of a WAL segment file (16 MB segments), from its name. */
export function segmentEnd(walFile: string): string {
    const hi = parseInt(walFile.slice(8, 16), 16);
    const seg = parseInt(walFile.slice(16, 24), 16) + 1;
    const bytes = BigInt(hi) * 0x100000000n + BigInt(seg) * 0x1000000n;
    return `${(bytes >> 32n).toString(16).toUpperCase()}/${(bytes & 0xffffffffn).toString(16).toUpperCase()}`;
}

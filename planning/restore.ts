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
}

/**
 * Why a target cannot be reached from a window (a sentence naming what exists), or
 * undefined when it can. "latest" always can, once there is a backup at all.
 */
export function targetProblem(target: RestoreTarget, window: RecoverableWindow, fromStack: string): string | undefined {
    const range =
        `stack ${fromStack}'s backups reach from ${window.from.time.toISOString()} (${window.from.lsn}) ` +
        `to ${window.to.time.toISOString()} (${window.to.lsn}, its last archived WAL)`;
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

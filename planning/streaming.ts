import { lsnToBytes } from "./lsn";
import type { NodeObservation } from "./observation";

/** Whether a standby streams from that upstream, on the upstream's timeline. */
export function streamsFrom(node: NodeObservation, upstream: NodeObservation): boolean {
    return (
        node.receiverStatus === "streaming" &&
        node.upstreamHost === upstream.name &&
        upstream.timeline !== undefined &&
        node.timeline === upstream.timeline
    );
}

/** What a node's container says of itself (ops/driver.ts): a data directory, and why it cannot stream. */
export interface NodeState {
    /** Whether it holds a data directory; undefined when it could not be asked. */
    readonly hasData?: boolean;
    /** Why it cannot stream, when PostgreSQL said so (images/postgres/bin/pgtopo-log-watch). */
    readonly reported?: "wal-gone" | "diverged";
}

/** The container's answer: "data" or "none", then the state file's word (maybe none). */
export function nodeState(answer: string): NodeState {
    const [data, reported] = answer.split("\n").map((line) => line.trim());
    return {
        hasData: data === "data" ? true : data === "none" ? false : undefined,
        ...(reported === "wal-gone" || reported === "diverged" ? { reported } : {}),
    };
}

/**
 * Why a standby that does not stream cannot, as it is: its upstream no longer has the WAL
 * it needs ("wal-gone": it is cloned afresh); its WAL went past the point where the
 * upstream's timeline forked, or is of a timeline the upstream does not descend from
 * ("diverged": it is rewound); its volume holds no data directory ("no-data"). Its
 * container says the first two when PostgreSQL said so (pgtopo-log-watch keeps the word;
 * PostgreSQL's wording is read there, beside the PostgreSQL the image ships) and the
 * third; what the two servers say of themselves shows the same where it is certain
 * (a timeline the upstream is not on and does not descend from, WAL older than the
 * upstream's oldest). "unknown" otherwise: it may yet stream (an upstream restarting, a
 * standby still catching up to the fork), and is waited for.
 *
 * A standby's timeline is only known for certain while it receives; without a receiver
 * it is the latest its control file names, which may lag behind what it replayed, so it
 * is never compared with where the upstream's timeline forked.
 */
export type StreamingFailure = "wal-gone" | "diverged" | "no-data" | "unknown";
export function whyNotStreaming(
    node: NodeObservation,
    upstream: NodeObservation | undefined,
    state: NodeState = {},
): StreamingFailure {
    if (state.hasData === false) return "no-data";
    if (state.reported) return state.reported;
    if (!node.reachable || !upstream?.reachable) return "unknown";
    const [mine, theirs] = [node.timeline, upstream.timeline];
    // A timeline after the upstream's, or one it does not descend from: it can never follow.
    if (mine !== undefined && theirs !== undefined && mine !== theirs) {
        if (mine > theirs || !upstream.history?.some((h) => h.timeline === mine)) return "diverged";
    }
    const position = node.replayLsn ?? node.walLsn;
    if (position && upstream.oldestWal && segmentOf(lsnToBytes(position)) < segmentNumber(upstream.oldestWal)) {
        return "wal-gone";
    }
    return "unknown";
}

/** PostgreSQL's default WAL segment size, which pgtopo does not change. */
const SEGMENT_BYTES = 16n * 1024n * 1024n;

/** The segment (log and seg number, whatever the timeline) a byte position falls in. */
function segmentOf(position: bigint): bigint {
    return position / SEGMENT_BYTES;
}

/** A WAL file name's segment number: TTTTTTTT (timeline), LLLLLLLL, SSSSSSSS. */
function segmentNumber(walFile: string): bigint {
    const log = BigInt(`0x${walFile.slice(8, 16)}`);
    const seg = BigInt(`0x${walFile.slice(16, 24)}`);
    return (log * 0x100000000n) / SEGMENT_BYTES + seg;
}

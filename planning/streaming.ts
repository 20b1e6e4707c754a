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

/**
 * Why a standby that does not stream cannot, as it is: its upstream no longer has the WAL
 * it needs ("wal-gone": it is cloned afresh); its WAL went past the point where the
 * upstream's timeline forked, or is of a timeline the upstream does not descend from
 * ("diverged": it is rewound); its volume holds no data directory ("no-data", which only
 * its container can say: `hasData`). "unknown" otherwise: it may yet stream (an upstream
 * restarting, a standby still catching up to the fork), and is waited for.
 *
 * Decided from what the two servers say of themselves (ops/observe.ts), never from the
 * wording of a log line, which a new release of PostgreSQL or of pgtopo may change.
 */
export type StreamingFailure = "wal-gone" | "diverged" | "no-data" | "unknown";
export function whyNotStreaming(
    node: NodeObservation,
    upstream: NodeObservation | undefined,
    /** Whether the node's container has a data directory; undefined when it could not be asked. */
    hasData?: boolean,
): StreamingFailure {
    if (hasData === false) return "no-data";
    if (!node.reachable || !upstream?.reachable) return "unknown";
    // Where the standby's WAL ends: what it has replayed, or received, whichever is further.
    const ends = [node.replayLsn, node.walLsn].filter((lsn): lsn is string => !!lsn).map(lsnToBytes);
    const position = ends.length > 0 ? ends.reduce((a, b) => (a > b ? a : b)) : undefined;
    const [mine, theirs] = [node.timeline, upstream.timeline];
    if (mine !== undefined && theirs !== undefined && mine !== theirs) {
        // A timeline the upstream is not on: it must be one the upstream's descends from,
        // and the standby must not have gone past the point where the upstream left it.
        if (mine > theirs) return "diverged";
        const left = upstream.history?.find((h) => h.timeline === mine);
        if (!left) return "diverged";
        if (position !== undefined && position > lsnToBytes(left.switchpoint)) return "diverged";
    }
    if (position !== undefined && upstream.oldestWal && segmentOf(position) < segmentNumber(upstream.oldestWal)) {
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

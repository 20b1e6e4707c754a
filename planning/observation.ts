/**
 * What the program learns of a node by asking it (ops/observe.ts): the input of every pure
 * decision in planning/ (transitions, repairs, health, why a standby does not stream).
 */

/** A replication slot as its node reports it. */
export interface SlotObservation {
    readonly name: string;
    readonly active: boolean;
    /** pg_replication_slots.wal_status: "lost" once the WAL the slot needed was removed. */
    readonly walStatus?: string;
}

/** What a node's container and server say about themselves right now. */
export interface NodeObservation {
    readonly name: string;
    readonly container: "running" | "stopped" | "missing";
    /** Whether PostgreSQL answered a query in the container. */
    readonly reachable: boolean;
    readonly error?: string;
    /**
     * Container stopped: whether its data directory is a standby's (standby.signal), that
     * is, whether starting it as it is could never bring back a second primary.
     */
    readonly dataIsStandby?: boolean;
    readonly inRecovery?: boolean;
    readonly timeline?: number;
    /** Primary: current WAL insert position. Standby: last WAL received. */
    readonly walLsn?: string;
    /** Standby: last WAL replayed. */
    readonly replayLsn?: string;
    /** Standby: the host its WAL receiver streams from, and the receiver's status. */
    readonly upstreamHost?: string;
    readonly receiverStatus?: string;
    /** Standby: whom it is told to stream from (primary_conninfo's host) and through which slot. */
    readonly conninfoHost?: string;
    readonly slotSetting?: string;
    /** Replication slots on this node. */
    readonly slots: readonly SlotObservation[];
    /** Data directories set aside in this node's volume when it had to be re-cloned or rewound. */
    readonly keptData?: readonly string[];
    /**
     * Where its timelines began: the history of the timeline it is on (its history file;
     * empty on timeline 1), each ancestor with the LSN at which the next one forked off it.
     */
    readonly history?: readonly TimelineSwitch[];
    /** The oldest WAL segment in its pg_wal (what a standby streaming from it can still get). */
    readonly oldestWal?: string;
    /** Standbys streaming from this node, as its walsenders report them. */
    readonly replicas: readonly {
        readonly name: string;
        readonly state: string;
        readonly replayLagSeconds: number | null;
        readonly syncState: string;
        /** Whether its replication connection is encrypted (pg_stat_ssl). */
        readonly ssl?: boolean;
    }[];
}

/** One line of a timeline history file: `timeline` ended, and the next began, at `switchpoint`. */
export interface TimelineSwitch {
    readonly timeline: number;
    readonly switchpoint: string;
}

/** A timeline history file's text ("1\t0/3000060\tno recovery target specified" per line). */
export function parseTimelineHistory(text: string): TimelineSwitch[] {
    return text
        .split("\n")
        .map((line) => /^(\d+)\s+([0-9A-F]+\/[0-9A-F]+)/i.exec(line.trim()))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ timeline: Number(m[1]), switchpoint: m[2].toUpperCase() }));
}

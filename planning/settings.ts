import type { ClusterConfig } from "../config/schema";
import { archiveSettings } from "./backup";
import { BACKUP_SERVERS_SETTING, planBackupServers } from "./backup-servers";
import type { TopologyPlan } from "./topology";

export type SettingValue = string | number | boolean;

/**
 * pgtopo's defaults. Users may change any of these through `pgtopo:parameters`; the
 * settings the topology dictates (config/schema.ts MANAGED_PARAMETERS) they may not.
 */
export const DEFAULT_PARAMETERS: Readonly<Record<string, SettingValue>> = {
    // Off, PostgreSQL's own default, said out loud. On, a standby's oldest snapshot holds
    // back vacuum on the primary, and through its slot even while that standby is down:
    // bloat on the primary, and 29% fewer pgbench writes in bench:lag (docs/benchmarks.md).
    // Turn it on with pgtopo:parameters when long queries on standbys must not be cancelled.
    hot_standby_feedback: false,
    // A slot whose standby is gone must not fill the disk: past this much retained WAL
    // the slot is invalidated and that standby needs a new clone instead.
    max_slot_wal_keep_size: "4GB",
    wal_keep_size: "256MB",
    // Checksums are on already (initdb -k); WAL-logged hint bits are what pg_rewind needs.
    wal_log_hints: true,
};

/**
 * Enough WAL senders and slots for every node to have a standby, plus the two
 * connections a clone's pg_basebackup takes, plus spare; never below PostgreSQL's own
 * default. All nodes get the same values, as a hot standby requires.
 */
export function replicationCapacity(nodeCount: number): number {
    return Math.max(16, 2 * nodeCount + 4);
}

/** The synchronous_standby_names value: application names are node names, quoted for the '-'. */
export function synchronousStandbyNames(config: ClusterConfig): string {
    const sync = config.synchronous;
    if (!sync) return "";
    return `${sync.mode.toUpperCase()} ${sync.count} (${sync.standbys.map((s) => `"${s}"`).join(", ")})`;
}

function backupServersSetting(config: ClusterConfig): Record<string, string> {
    const servers = planBackupServers(config);
    return servers ? { [BACKUP_SERVERS_SETTING]: servers.setting } : {};
}

function render(value: SettingValue): string {
    if (typeof value === "boolean") return value ? "on" : "off";
    if (typeof value === "number") return String(value);
    return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The text of pgtopo.conf, the file every node includes from postgresql.conf. The same
 * on every node, so that any node can become primary without a settings change, and so
 * that a clone copies a file that is already right.
 */
export function renderSettings(config: ClusterConfig, plan: TopologyPlan): string {
    const capacity = replicationCapacity(plan.nodes.length);
    const managed: Record<string, SettingValue> = {
        listen_addresses: "*",
        password_encryption: "scram-sha-256",
        wal_level: "replica",
        hot_standby: true,
        max_wal_senders: capacity,
        max_replication_slots: capacity,
        synchronous_standby_names: synchronousStandbyNames(config),
        ...archiveSettings(config.backup),
        // Across hosts with an object store: where a backup on the primary reaches each standby.
        ...backupServersSetting(config),
    };
    const tunable = { ...DEFAULT_PARAMETERS, ...config.parameters };
    const lines = [
        "# Managed by pgtopo from the stack config; rewritten by every `pulumi up`.",
        "# Change settings with pgtopo:parameters, not here.",
        ...Object.entries(managed).map(([k, v]) => `${k} = ${render(v)}`),
        ...Object.keys(tunable)
            .sort()
            .map((k) => `${k} = ${render(tunable[k])}`),
    ];
    return `${lines.join("\n")}\n`;
}

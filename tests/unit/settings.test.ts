import { describe, expect, it } from "vitest";
import { parseClusterConfig, rawConfigFromPulumi } from "../../config";
import { renderSettings, replicationCapacity, synchronousStandbyNames } from "../../planning/settings";
import { planTopology } from "../../planning/topology";

const configOf = (extra: Record<string, unknown> = {}) =>
    parseClusterConfig({
        primary: "pg-1",
        nodes: [
            { name: "pg-1", port: 15432 },
            { name: "pg-2", port: 15433 },
            { name: "pg-3", port: 15434 },
        ],
        ...extra,
    });

describe("pgtopo.conf", () => {
    it("sets the replication essentials and safe defaults", () => {
        const config = configOf();
        const text = renderSettings(config, planTopology(config, "unit"));
        for (const line of [
            "listen_addresses = '*'",
            "password_encryption = 'scram-sha-256'",
            "wal_level = 'replica'",
            "hot_standby = on",
            "max_wal_senders = 16",
            "max_replication_slots = 16",
            "max_slot_wal_keep_size = '4GB'",
            "wal_log_hints = on",
            "hot_standby_feedback = off",
            "synchronous_standby_names = ''",
        ]) {
            expect(text.split("\n")).toContain(line);
        }
    });

    it("sizes WAL senders and slots to the topology", () => {
        expect(replicationCapacity(2)).toBe(16);
        expect(replicationCapacity(10)).toBe(24);
    });

    it("writes synchronous_standby_names with quoted node names", () => {
        expect(synchronousStandbyNames(configOf({ synchronous: { standbys: ["pg-2", "pg-3"] } }))).toBe(
            'ANY 1 ("pg-2", "pg-3")',
        );
        expect(
            synchronousStandbyNames(configOf({ synchronous: { mode: "first", count: 2, standbys: ["pg-3", "pg-2"] } })),
        ).toBe('FIRST 2 ("pg-3", "pg-2")');
    });

    it("lets parameters override defaults and quotes strings safely", () => {
        const config = configOf({
            parameters: {
                max_slot_wal_keep_size: "10GB",
                work_mem: "8MB",
                jit: false,
                max_connections: 200,
                application_name: "it's",
            },
        });
        const lines = renderSettings(config, planTopology(config, "unit")).split("\n");
        expect(lines).toContain("max_slot_wal_keep_size = '10GB'");
        expect(lines).not.toContain("max_slot_wal_keep_size = '4GB'");
        expect(lines).toContain("work_mem = '8MB'");
        expect(lines).toContain("jit = off");
        expect(lines).toContain("max_connections = 200");
        expect(lines).toContain("application_name = 'it''s'");
    });

    it("reads structured and boolean values from Pulumi's flat config", () => {
        const raw = rawConfigFromPulumi({
            "pgtopo:postgresVersion": "15",
            "pgtopo:primary": "pg-1",
            "pgtopo:nodes": '[{"name":"pg-1","port":15432}]',
            "pgtopo:deleteDataOnRemove": "true",
            "pgtopo:parameters": '{"work_mem":"8MB"}',
            "docker:host": "unix:///var/run/docker.sock",
        });
        expect(raw).toEqual({
            postgresVersion: "15",
            primary: "pg-1",
            nodes: [{ name: "pg-1", port: 15432 }],
            deleteDataOnRemove: true,
            parameters: { work_mem: "8MB" },
        });
    });
});

import type { z } from "zod";
import { ConfigError } from "./errors";
import { clusterConfigSchema, defaultBaseImage, type ClusterConfig } from "./schema";

export const CONFIG_NAMESPACE = "pgtopo";

/**
 * Keys whose value is YAML structure or a boolean: Pulumi hands every value over as
 * text, JSON for structures. Other keys stay text, so `postgresVersion: "15"` is "15".
 */
const JSON_KEYS = new Set([
    "nodes",
    "synchronous",
    "parameters",
    "deleteDataOnRemove",
    "maxLagOnFailover",
    "backup",
    "restore",
    "tls",
]);

/**
 * Turns Pulumi's flat `namespace:key -> string` map (as returned by
 * `pulumi.runtime.allConfig()`) into the raw object the schema checks. Keys of other
 * namespaces (`docker:host`, ...) belong to other packages and are left alone.
 */
export function rawConfigFromPulumi(allConfig: Record<string, string>): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    const prefix = `${CONFIG_NAMESPACE}:`;
    for (const [fullKey, text] of Object.entries(allConfig)) {
        if (!fullKey.startsWith(prefix)) continue;
        const key = fullKey.slice(prefix.length);
        raw[key] = JSON_KEYS.has(key) ? parseJson(text) : text;
    }
    return raw;
}

function parseJson(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        // Leave it as text: the schema then reports the field with what it expected.
        return text;
    }
}

/**
 * Checks the shape of the configuration (types, ranges, names, unknown keys). Relations
 * between nodes (upstreams, cycles, duplicates) are checked by the topology planner.
 */
export function parseClusterConfig(raw: Record<string, unknown>): ClusterConfig {
    const result = clusterConfigSchema.safeParse(raw, { reportInput: true });
    if (result.success) {
        return { ...result.data, baseImage: result.data.baseImage ?? defaultBaseImage(result.data.postgresVersion) };
    }
    throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, raw)));
}

function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): string {
    const field = fieldName(issue.path, raw);
    if (issue.code === "unrecognized_keys") {
        const allowed = allowedKeysAt(issue.path);
        const keys = issue.keys.map((k) => `"${k}"`).join(", ");
        return `${field}: unknown key${issue.keys.length > 1 ? "s" : ""} ${keys}; allowed keys are ${allowed.join(", ")}`;
    }
    // A bad map key (pgtopo:parameters) carries the key's own problem inside it.
    const message = issue.code === "invalid_key" ? (issue.issues[0]?.message ?? issue.message) : issue.message;
    if (issue.input === undefined) return `${field} ${message}`;
    return `${field}: ${JSON.stringify(issue.input)} is not allowed; it ${message}`;
}

/** `pgtopo:nodes[1] (pg-2).port`: the index finds the entry, the name helps a human. */
function fieldName(path: readonly PropertyKey[], raw: Record<string, unknown>): string {
    if (path.length === 0) return CONFIG_NAMESPACE;
    let name = `${CONFIG_NAMESPACE}:${String(path[0])}`;
    let value: unknown = raw[String(path[0])];
    for (const part of path.slice(1)) {
        if (typeof part === "number") {
            name += `[${part}]`;
            value = Array.isArray(value) ? value[part] : undefined;
            const nodeName = (value as { name?: unknown } | undefined)?.name;
            if (typeof nodeName === "string") name += ` (${nodeName})`;
        } else {
            name += `.${String(part)}`;
            value = (value as Record<string, unknown> | undefined)?.[String(part)];
        }
    }
    return name;
}

function allowedKeysAt(path: readonly PropertyKey[]): string[] {
    if (path.length === 0) return Object.keys(clusterConfigSchema.shape).map((k) => `${CONFIG_NAMESPACE}:${k}`);
    if (path[0] === "nodes") return Object.keys(clusterConfigSchema.shape.nodes.element.shape);
    if (path[0] === "synchronous") return ["mode", "count", "standbys"];
    if (path[0] === "backup" && path.length === 1) return ["retention", "schedule", "deleteBackupsOnDestroy"];
    if (path[0] === "backup" && path[1] === "retention") return ["full"];
    if (path[0] === "restore") return ["fromStack", "target"];
    return [];
}

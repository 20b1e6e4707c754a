import { REPOSITORY_NAME } from "../contract/names";
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
    "hosts",
    "clients",
    "endpoints",
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
        const data = result.data;
        const problems = [...hostsProblems(data), ...backupProblems(data)];
        if (problems.length > 0) throw new ConfigError(problems);
        return {
            ...data,
            baseImage: data.baseImage ?? defaultBaseImage(data.postgresVersion),
            // Traffic between hosts leaves the machine: always encrypted (hostsProblems).
            tls: data.tls ?? data.hosts !== undefined,
        };
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
    // A tcp:// engine's TLS material and the object store's keys are secret: named, never echoed.
    if (issue.input === undefined || isSecretField(issue.path)) return `${field} ${message}`;
    // A refinement of a whole object sees it with its defaults filled in: say what was written.
    const input = issue.code === "custom" ? valueAt(raw, issue.path) : issue.input;
    return `${field}: ${JSON.stringify(input)} is not allowed; it ${message}`;
}

function isSecretField(path: readonly PropertyKey[]): boolean {
    if (path[0] === "hosts") return path.includes("tls");
    return path[0] === "backup" && path[1] === "s3" && (path[2] === "accessKey" || path[2] === "secretKey");
}

function valueAt(raw: Record<string, unknown>, path: readonly PropertyKey[]): unknown {
    return path.reduce<unknown>((value, part) => (value as Record<PropertyKey, unknown> | undefined)?.[part], raw);
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
    if (path[0] === "backup" && path.length === 1) return Object.keys(clusterConfigSchema.shape.backup.unwrap().shape);
    if (path[0] === "backup" && path[1] === "retention") return ["full"];
    if (path[0] === "backup" && path[1] === "s3")
        return ["endpoint", "bucket", "region", "prefix", "uriStyle", "ca", "accessKey", "secretKey"];
    if (path[0] === "backup" && path[1] === "repositoryHost") return ["host", "port"];
    if (path[0] === "restore") return ["fromStack", "target"];
    if (path[0] === "hosts" && path.length === 2) return ["docker", "address", "tls", "gone"];
    if (path[0] === "hosts" && path[2] === "tls") return ["ca", "cert", "key"];
    if (path[0] === "endpoints" && path.length === 1)
        return ["rw", "ro", "pooling", "pauseTimeout", "maxClientConnections", "poolSize"];
    if (path[0] === "endpoints") return ["port"];
    return [];
}

/** The routers' listeners (pgtopo:endpoints), published on every host. */
function endpointPorts(data: z.infer<typeof clusterConfigSchema>): { listener: string; port: number }[] {
    return (["rw", "ro"] as const).flatMap((listener) => {
        const port = data.endpoints?.[listener]?.port;
        return port === undefined ? [] : [{ listener, port }];
    });
}

/** Combinations of pgtopo:backup that pgtopo cannot keep its word on. */
function backupProblems(data: z.infer<typeof clusterConfigSchema>): string[] {
    const backup = data.backup;
    if (backup?.s3 && backup.repositoryHost) {
        return [
            "pgtopo:backup: s3 and repositoryHost are two kinds of repository; allowed: one of them (or neither, for a volume on this machine)",
        ];
    }
    const repositoryHost = backup?.repositoryHost;
    const named = data.nodes.findIndex((n) => n.name === REPOSITORY_NAME);
    if (repositoryHost && named >= 0) {
        return [
            `pgtopo:nodes[${named}].name: "${REPOSITORY_NAME}" is the name of the stack's repository host with pgtopo:backup.repositoryHost; give the node another name`,
        ];
    }
    if (repositoryHost && !data.hosts && repositoryHost.host !== undefined) {
        return [
            `pgtopo:backup.repositoryHost.host: "${repositoryHost.host}" is allowed only with pgtopo:hosts; on one machine the repository container runs on the local engine (remove host)`,
        ];
    }
    if (repositoryHost && data.hosts) {
        const hostNames = Object.keys(data.hosts);
        const allowed = hostNames.map((h) => `"${h}"`).join(", ");
        if (repositoryHost.host === undefined) {
            return [`pgtopo:backup.repositoryHost.host is required with pgtopo:hosts: the host the repository runs on; allowed: ${allowed}`]; // prettier-ignore
        }
        if (!hostNames.includes(repositoryHost.host)) {
            return [`pgtopo:backup.repositoryHost.host: "${repositoryHost.host}" is not in pgtopo:hosts; allowed: ${allowed}`]; // prettier-ignore
        }
        // pgBackRest's server is published on one port on every host that runs a part of it.
        const problems: string[] = [];
        const onHost = (host: string) => data.nodes.filter((n) => n.host === host).map((n) => n.name);
        for (const host of hostNames) {
            const parts = [...onHost(host), ...(host === repositoryHost.host ? ["the repository"] : [])];
            if (parts.length > 1) {
                problems.push(
                    `pgtopo:backup.repositoryHost: ${parts.join(" and ")} are all on host ${host}, where each would publish pgBackRest's server on port ${repositoryHost.port}; allowed: one node per host, and the repository on a host without a node`,
                );
            }
        }
        const router = endpointPorts(data).find((p) => p.port === repositoryHost.port);
        if (router) {
            problems.push(
                `pgtopo:backup.repositoryHost.port: ${repositoryHost.port} is the port of pgtopo:endpoints.${router.listener} on every host; allowed: another port`,
            );
        }
        const taken = data.nodes.find((n) => n.port === repositoryHost.port);
        if (taken) {
            problems.push(
                `pgtopo:backup.repositoryHost.port: ${repositoryHost.port} is node ${taken.name}'s PostgreSQL port; allowed: another port`,
            );
        }
        if (problems.length > 0) return problems;
    }
    if (backup?.serverPort !== undefined) {
        const port = backup.serverPort;
        if (backup.repositoryHost) {
            return [
                `pgtopo:backup.serverPort: ${port} is not allowed with pgtopo:backup.repositoryHost, whose port the nodes' servers are published on; allowed: pgtopo:backup.repositoryHost.port (remove serverPort)`,
            ];
        }
        if (!data.hosts) {
            return [
                `pgtopo:backup.serverPort: ${port} is allowed only with pgtopo:hosts; on one machine every node's pgBackRest server is reached on the stack's network and nothing is published (remove serverPort)`,
            ];
        }
    }
    if (backup?.s3 && backup.deleteBackupsOnDestroy) {
        return [
            "pgtopo:backup.deleteBackupsOnDestroy: true is not allowed with pgtopo:backup.s3; a repository in an object store outlives its stack (delete its prefix in the bucket when you no longer want it)",
        ];
    }
    return [];
}

/**
 * What pgtopo:hosts rules out: plaintext between machines, and the features that still
 * assume one engine (the backup repository is one volume every node mounts).
 */
function hostsProblems(data: z.infer<typeof clusterConfigSchema>): string[] {
    if (!data.hosts) {
        return [
            ...(data.clients.length > 0
                ? ["pgtopo:clients: allowed only with pgtopo:hosts; on one machine clients connect on 127.0.0.1"]
                : []),
            ...data.nodes.flatMap((node, i) =>
                node.host === undefined
                    ? []
                    : [
                          `pgtopo:nodes[${i}] (${node.name}).host: "${node.host}" is not allowed without pgtopo:hosts, which says how to reach each host's Docker engine`,
                      ],
            ),
        ];
    }
    const problems: string[] = [];
    if (data.tls === false) {
        problems.push(
            "pgtopo:tls: false is not allowed with pgtopo:hosts; replication between hosts is always encrypted (remove pgtopo:tls or set it to true)",
        );
    }
    if (data.backup && !data.backup.s3 && !data.backup.repositoryHost) {
        problems.push(
            "pgtopo:backup: with pgtopo:hosts the repository must be one every host reaches: set pgtopo:backup.s3 (an S3-compatible object store) or pgtopo:backup.repositoryHost (a repository container on one of the hosts); the default, a Docker volume, exists on one machine only",
        );
    }
    if (data.restore && !data.backup?.s3 && !data.backup?.repositoryHost) {
        problems.push(
            "pgtopo:restore: with pgtopo:hosts the source must be where this stack can read it: set pgtopo:backup.s3 to the object store the source stack backs up into, or pgtopo:backup.repositoryHost to the host that holds the source's repository volume",
        );
    }
    const byAddress = new Map<string, string[]>();
    for (const [name, host] of Object.entries(data.hosts)) {
        byAddress.set(host.address, [...(byAddress.get(host.address) ?? []), name]);
    }
    for (const [address, names] of byAddress) {
        if (names.length > 1) {
            problems.push(
                `pgtopo:hosts: ${names.map((n) => `"${n}"`).join(" and ")} have the same address ${address}; each host needs its own`,
            );
        }
    }
    for (const [name, host] of Object.entries(data.hosts)) {
        const tcp = host.docker.startsWith("tcp://");
        if (tcp && !host.tls) {
            problems.push(
                `pgtopo:hosts.${name}.tls is required for ${host.docker}: { ca, cert, key } as secrets (a Docker API without TLS is root on that host for anyone who reaches it)`,
            );
        } else if (!tcp && host.tls) {
            problems.push(
                `pgtopo:hosts.${name}.tls: allowed only for a tcp:// engine; ${host.docker} brings its own security (remove tls)`,
            );
        }
    }
    const hostNames = Object.keys(data.hosts);
    data.nodes.forEach((node, i) => {
        const field = `pgtopo:nodes[${i}] (${node.name}).host`;
        const allowed = hostNames.map((h) => `"${h}"`).join(", ");
        if (node.host === undefined) {
            problems.push(`${field} is required with pgtopo:hosts: the host this node runs on; allowed: ${allowed}`);
        } else if (!hostNames.includes(node.host)) {
            problems.push(`${field}: "${node.host}" is not in pgtopo:hosts; allowed: ${allowed}`);
        }
    });
    // A host marked gone is never contacted: nothing there can be primary or feed a standby.
    const goneHost = (name: string | undefined) => {
        const host = data.nodes.find((n) => n.name === name)?.host;
        return host !== undefined && data.hosts?.[host]?.gone ? host : undefined;
    };
    const live = data.nodes.filter((n) => !goneHost(n.name)).map((n) => `"${n.name}"`);
    const primaryHost = goneHost(data.primary);
    if (primaryHost) {
        problems.push(
            `pgtopo:primary: "${data.primary}" is on host ${primaryHost}, which pgtopo:hosts.${primaryHost}.gone says is lost; name a node on a host that is up: ${live.join(", ")}`,
        );
    }
    data.nodes.forEach((node, i) => {
        const upstream = node.upstream ?? (node.name === data.primary ? undefined : data.primary);
        const host = goneHost(upstream);
        if (host && !goneHost(node.name) && upstream !== data.primary) {
            problems.push(
                `pgtopo:nodes[${i}] (${node.name}).upstream: "${upstream}" is on host ${host}, which pgtopo:hosts.${host}.gone says is lost; stream from a node on a host that is up: ${live.filter((n) => n !== `"${node.name}"`).join(", ")}`,
            );
        }
    });
    return problems;
}

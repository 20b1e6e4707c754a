import { ConfigError } from "../config/errors";
import type { ClusterConfig } from "../config/schema";
import { stackNames } from "../contract/names";
import { backupServerProblems } from "./backup-servers";
import { endpointProblems } from "./routers";

export { splitEndpoint } from "./endpoint";

export type Role = "primary" | "standby";

/**
 * One node as pgtopo will run it: the config entry with everything derived filled in. The
 * one reference to a node that every layer uses (the converge step gets these as JSON).
 */
export interface PlannedNode {
    readonly name: string;
    readonly port: number;
    readonly role: Role;
    /** The node this one streams from; undefined for the primary. */
    readonly upstream?: string;
    /** Physical replication slot on the upstream that this standby consumes. */
    readonly slot?: string;
    /** Hops from the primary: 0 for the primary, 1 for its direct standbys, ... */
    readonly depth: number;
    /** pgtopo:hosts: the host it runs on; undefined on the local engine. */
    readonly host?: string;
    /** DOCKER_HOST of that host's engine; undefined for the local one. */
    readonly dockerHost?: string;
    /** Its host is marked gone (pgtopo:hosts.NAME.gone): never contacted, left as it is. */
    readonly gone?: true;
    /** Where its port is published: the host's address, or 127.0.0.1 on the local engine. */
    readonly address: string;
    /**
     * How the other nodes reach it, as the node scripts take it: its name on the stack's
     * Docker network (port 5432) on one machine; across hosts, its host's address and
     * published port ("10.0.0.11:5433").
     */
    readonly endpoint: string;
    /** Its container and data volume (contract/names.ts). */
    readonly container: string;
    readonly volume: string;
}

export interface TopologyPlan {
    readonly primary: string;
    /** Every node, upstreams before their standbys, so creation can follow this order. */
    readonly nodes: readonly PlannedNode[];
}

/**
 * Slot names allow only [a-z0-9_]; node names allow `-`, which maps to `_`. The prefix
 * marks slots pgtopo owns (as CloudNativePG does), so they are never confused with a
 * slot someone made by hand.
 */
export function slotNameFor(nodeName: string): string {
    return `pgtopo_${nodeName.replace(/-/g, "_")}`;
}

/**
 * Checks how the nodes relate to each other and derives each node's role, upstream and
 * slot. Every problem found is reported together; nothing is planned from a config with
 * any problem in it.
 */
export function planTopology(config: ClusterConfig, stack: string): TopologyPlan {
    const problems: string[] = [];
    const byName = new Map(config.nodes.map((n) => [n.name, n]));

    reportDuplicates(
        config.nodes.map((n) => n.name),
        (name, at) =>
            `pgtopo:nodes[${at.join("], [")}].name: "${name}" is used by more than one node; names must be unique`,
        problems,
    );
    // A port is published on its host's address: it must be unique per host (on one
    // machine, among all nodes).
    reportDuplicates(
        config.nodes.map((n) => `${n.host ?? ""}:${n.port}`),
        (_key, at) => {
            const { host, port } = config.nodes[at[0]];
            const where = host ? ` on host ${host}` : "";
            return `pgtopo:nodes[${at.join("], [")}].port: ${port} is used by more than one node${where}; each node needs its own port${where}`;
        },
        problems,
    );

    problems.push(...backupServerProblems(config));

    if (!byName.has(config.primary)) {
        problems.push(
            `pgtopo:primary: "${config.primary}" is not among the nodes; allowed: ${config.nodes.map((n) => `"${n.name}"`).join(", ")}`,
        );
    }

    config.nodes.forEach((node, i) => {
        const field = `pgtopo:nodes[${i}] (${node.name}).upstream`;
        if (node.upstream === undefined) return;
        if (node.name === config.primary) {
            problems.push(
                `${field}: "${node.upstream}" is not allowed on the primary; the primary streams from no one (remove upstream, or name another primary)`,
            );
        } else if (node.upstream === node.name) {
            problems.push(`${field}: "${node.upstream}" is the node itself; a standby must stream from another node`);
        } else if (!byName.has(node.upstream)) {
            problems.push(
                `${field}: "${node.upstream}" is not a node; allowed: ${config.nodes
                    .filter((n) => n.name !== node.name)
                    .map((n) => `"${n.name}"`)
                    .join(", ")}`,
            );
        }
    });
    if (problems.length > 0) throw new ConfigError(problems);

    const upstreamOf = (name: string): string | undefined =>
        name === config.primary ? undefined : (byName.get(name)?.upstream ?? config.primary);

    const cycles = findCycles(
        config.nodes.map((n) => n.name),
        upstreamOf,
    );
    for (const cycle of cycles) {
        problems.push(
            `pgtopo:nodes: upstreams form a cycle ${[...cycle, cycle[0]].join(" -> ")}; every chain of upstreams must end at the primary "${config.primary}"`,
        );
    }
    problems.push(...synchronousProblems(config, upstreamOf));
    problems.push(...endpointProblems(config));
    if (problems.length > 0) throw new ConfigError(problems);

    const depthOf = (name: string): number => {
        let depth = 0;
        for (let up = upstreamOf(name); up !== undefined; up = upstreamOf(up)) depth++;
        return depth;
    };
    const names = stackNames(stack);
    const planned: PlannedNode[] = config.nodes.map((node) => {
        const upstream = upstreamOf(node.name);
        const host = node.host !== undefined ? config.hosts?.[node.host] : undefined;
        return {
            ...(host ? { host: node.host, dockerHost: host.docker } : {}),
            ...(host?.gone ? { gone: true as const } : {}),
            address: host?.address ?? "127.0.0.1",
            endpoint: host ? `${host.address}:${node.port}` : node.name,
            name: node.name,
            port: node.port,
            role: upstream === undefined ? "primary" : "standby",
            upstream,
            slot: upstream === undefined ? undefined : slotNameFor(node.name),
            depth: depthOf(node.name),
            container: names.container(node.name),
            volume: names.volume(node.name),
        };
    });
    // Stable sort: by depth, then in config order, so upstreams come first.
    planned.sort((a, b) => a.depth - b.depth);
    return { primary: config.primary, nodes: planned };
}

/**
 * Only a standby that streams straight from the primary can acknowledge commits: the
 * primary never hears from a cascaded one.
 */
function synchronousProblems(config: ClusterConfig, upstreamOf: (name: string) => string | undefined): string[] {
    const sync = config.synchronous;
    if (!sync) return [];
    const problems: string[] = [];
    const direct = config.nodes.filter((n) => upstreamOf(n.name) === config.primary).map((n) => `"${n.name}"`);
    sync.standbys.forEach((name, i) => {
        const field = `pgtopo:synchronous.standbys[${i}]`;
        const node = config.nodes.find((n) => n.name === name);
        if (!node) {
            problems.push(`${field}: "${name}" is not a node; allowed: standbys of the primary (${direct.join(", ")})`);
        } else if (name === config.primary) {
            problems.push(
                `${field}: "${name}" is the primary; allowed: standbys of the primary (${direct.join(", ")})`,
            );
        } else if (upstreamOf(name) !== config.primary) {
            problems.push(
                `${field}: "${name}" streams from "${upstreamOf(name)}", not from the primary; allowed: standbys of the primary (${direct.join(", ")})`,
            );
        }
    });
    if (sync.count > sync.standbys.length) {
        problems.push(
            `pgtopo:synchronous.count: ${sync.count} is more than the ${sync.standbys.length} standbys listed; allowed: 1 to ${sync.standbys.length}`,
        );
    }
    return problems;
}

function reportDuplicates<T>(
    values: readonly T[],
    describe: (value: T, indexes: number[]) => string,
    problems: string[],
): void {
    const seen = new Map<T, number[]>();
    values.forEach((v, i) => seen.set(v, [...(seen.get(v) ?? []), i]));
    for (const [value, indexes] of seen) if (indexes.length > 1) problems.push(describe(value, indexes));
}

/** Each cycle once, starting from its first node in config order. */
function findCycles(names: readonly string[], upstreamOf: (name: string) => string | undefined): string[][] {
    const cycles: string[][] = [];
    const inCycle = new Set<string>();
    for (const start of names) {
        if (inCycle.has(start)) continue;
        const path: string[] = [];
        let current: string | undefined = start;
        while (current !== undefined && !path.includes(current) && !inCycle.has(current)) {
            path.push(current);
            current = upstreamOf(current);
        }
        if (current !== undefined && path.includes(current)) {
            const cycle = path.slice(path.indexOf(current));
            cycle.forEach((n) => inCycle.add(n));
            cycles.push(cycle);
        }
    }
    return cycles;
}

/** Stack outputs' `nodes` map: what each node is and whom it follows. */
export interface NodeSummary {
    readonly role: Role;
    readonly port: number;
    readonly upstream?: string;
    /** With pgtopo:hosts: where it runs and is reached (what `npm run status` asks). */
    readonly host?: string;
    readonly dockerHost?: string;
    readonly address?: string;
    readonly endpoint?: string;
    readonly gone?: true;
}

export function nodesSummary(plan: TopologyPlan): Record<string, NodeSummary> {
    return Object.fromEntries(
        plan.nodes.map((n) => [
            n.name,
            {
                role: n.role,
                port: n.port,
                ...(n.upstream ? { upstream: n.upstream } : {}),
                ...(n.host
                    ? {
                          host: n.host,
                          dockerHost: n.dockerHost,
                          address: n.address,
                          endpoint: n.endpoint,
                          ...(n.gone ? { gone: n.gone } : {}),
                      }
                    : {}),
            },
        ]),
    );
}

/** A Mermaid flowchart of who streams from whom, arrows pointing downstream. */
export function topologyMermaid(plan: TopologyPlan): string {
    const id = (name: string) => `n_${name.replace(/-/g, "_")}`;
    const lines = ["flowchart TD"];
    for (const node of plan.nodes) {
        const label =
            node.role === "primary"
                ? `${node.name}<br/>primary :${node.port}`
                : `${node.name}<br/>standby :${node.port}`;
        lines.push(node.role === "primary" ? `    ${id(node.name)}[("${label}")]` : `    ${id(node.name)}["${label}"]`);
    }
    for (const node of plan.nodes) {
        if (node.upstream) lines.push(`    ${id(node.upstream)} -->|${node.slot}| ${id(node.name)}`);
    }
    return lines.join("\n");
}

import Table from "cli-table3";
import type { ClusterStatus, NodeStatus } from "../planning/health";
import type { ListenerStatus } from "../planning/routers";

function formatBytes(bytes: number | null): string {
    if (bytes === null) return "-";
    if (bytes < 1024) return `${bytes} B`;
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return `${value.toFixed(1)} ${units[unit]}`;
}

const cell = (v: string | number | null) => (v === null ? "-" : String(v));
const slotCell = (n: NodeStatus) => (n.slotActive === null ? "-" : n.slotActive ? "active" : "INACTIVE");
const roleCell = (n: NodeStatus) => (n.role === n.desiredRole ? n.role : `${n.role} (want ${n.desiredRole})`);

/** The routers' table (pgtopo:endpoints): one row per listener. */
function routersTable(listeners: readonly ListenerStatus[]): string {
    const table = new Table({
        head: ["router", "listener", "points at", "paused", "clients", "servers"],
        style: { head: [], border: [] },
    });
    for (const l of listeners) {
        const target = l.target === l.want ? l.target : `${cell(l.target)} (want ${l.want})`;
        table.push([
            l.router,
            l.listener,
            target,
            l.paused === null ? "no answer" : l.paused ? "PAUSED" : "no",
            cell(l.clients),
            cell(l.servers),
        ]);
    }
    return `${table.toString()}\n\n`;
}

/** The `npm run status` screen: one row per node, then the routers, the tree, every difference. */
export function renderStatus(
    status: ClusterStatus & { readonly backups?: readonly string[]; readonly routers?: readonly ListenerStatus[] },
    tree: string,
): string {
    const table = new Table({
        head: ["node", "role", "upstream", "state", "timeline", "replay lag", "lag (s)", "slot", "tls"],
        style: { head: [], border: [] },
    });
    for (const n of status.nodes) {
        table.push([
            n.name,
            roleCell(n),
            cell(n.upstream),
            n.state,
            cell(n.timeline),
            formatBytes(n.lagBytes),
            n.lagSeconds === null ? "-" : n.lagSeconds.toFixed(3),
            slotCell(n),
            n.tls === null ? "-" : n.tls ? "yes" : "no",
        ]);
    }
    const verdict = status.healthy
        ? "healthy: everything runs as configured"
        : `NOT healthy: ${status.differences.length} difference(s) from the config:\n${status.differences.map((d) => `  - ${d}`).join("\n")}`;
    const notices = status.notices.map((n) => `note: ${n}\n`).join("");
    const backups = status.backups ? `backups:\n${status.backups.map((line) => `  ${line}\n`).join("")}\n` : "";
    const routers = status.routers && status.routers.length > 0 ? routersTable(status.routers) : "";
    return `${table.toString()}\n\n${routers}${tree}\n\n${backups}${verdict}\n${notices}`;
}

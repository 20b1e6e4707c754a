import { NODE_LABEL, STACK_LABEL } from "../contract/names";
import { dockerText } from "../ops/docker";

/** A container of the stack and the PostgreSQL major its image was built for. */
export interface RunningMajor {
    readonly node: string;
    readonly major: string;
}

/**
 * The PostgreSQL major of every existing node container of a stack (running or not), read
 * from the PG_MAJOR its image sets, on every engine the stack runs on (DOCKER_HOSTs;
 * undefined: the local one). No container: an empty list.
 */
export async function runningMajors(
    stack: string,
    engines: readonly (string | undefined)[] = [undefined],
): Promise<RunningMajor[]> {
    return (await Promise.all(engines.map((engine) => majorsOn(stack, engine)))).flat();
}

async function majorsOn(stack: string, engine: string | undefined): Promise<RunningMajor[]> {
    const docker = (...args: string[]) => dockerText(engine, args, { timeout: 20_000 });
    const ids = (
        await docker("ps", "-aq", "--filter", `label=${STACK_LABEL}=${stack}`, "--filter", `label=${NODE_LABEL}`)
    )
        .split("\n")
        .filter(Boolean);
    if (ids.length === 0) return [];
    const format = `{{index .Config.Labels "${NODE_LABEL}"}}|{{range .Config.Env}}{{.}}|{{end}}`;
    return (await docker("inspect", "--format", format, ...ids))
        .split("\n")
        .filter(Boolean)
        .map((line) => {
            const [node, ...env] = line.split("|");
            const major = env.find((e) => e.startsWith("PG_MAJOR="))?.slice("PG_MAJOR=".length) ?? "unknown";
            return { node, major };
        });
}

/**
 * A stack's nodes keep their major: their data directories were made by it, and the node
 * image of another major cannot start on them. Changing pgtopo:postgresVersion under
 * existing nodes would replace every container and leave none that starts, so it is
 * refused before anything changes (issue 23 makes 15 -> 17 an upgrade). Returns the
 * problem sentence, if any.
 */
export async function versionProblems(
    stack: string,
    requested: string,
    majorsOf: (stack: string) => Promise<RunningMajor[]> = runningMajors,
): Promise<string[]> {
    const other = (await majorsOf(stack).catch(() => [])).filter((c) => c.major !== requested);
    if (other.length === 0) return [];
    const majors = [...new Set(other.map((c) => c.major))].sort();
    const nodes = [...new Set(other.map((c) => c.node))].sort().join(", ");
    // PostgreSQL goes up only; an upgrade by config is not here yet, but its check is.
    const why = majors.every((m) => Number(m) > Number(requested))
        ? "and PostgreSQL has no downgrade (restore a backup into a new stack instead)"
        : `and major upgrades by config are not supported yet (npm run upgrade-check -- --to ${requested} says whether pg_upgrade would take this cluster there)`;
    return [
        `pgtopo:postgresVersion: "${requested}" is not allowed for stack ${stack}: its nodes run PostgreSQL ` +
            `${majors.join(" and ")} (${nodes}), ${why}; allowed: ${majors.map((m) => `"${m}"`).join(", ")}`,
    ];
}

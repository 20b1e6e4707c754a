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

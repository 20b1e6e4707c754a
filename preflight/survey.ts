import { REPOSITORY_QUESTION_TIMEOUT, unreadableRepository, type StanzaStatus } from "../planning/backup";
import {
    GENERATION_LABEL,
    NODE_LABEL,
    REPOSITORY_NAME,
    ROUTER_LABEL,
    STACK_LABEL,
    stackNames,
    type StackNames,
} from "../contract/names";
import { containerGeneration } from "../planning/generation";
import { endpointsOf, observeNode } from "../ops/observe";
import { planConvergence, type ConvergencePlan, type ConvergeRequest } from "../planning/convergence";
import { dockerText } from "../ops/docker";
import { dockerRouterDriver } from "../ops/routers";

/** What the program finds running for a stack, while it declares resources. */
export interface StackSurvey {
    /** Settles once every engine answered the listings; rejects with EngineUnreachable otherwise. */
    readonly engines: Promise<void>;
    /** Per node, what two docker listings found of it; settles with `engines`. */
    readonly found: Promise<Readonly<Record<string, NodeFound>>>;
    /** Per router (pgtopo:endpoints), what the listings found of it; settles with `engines`. */
    readonly routersFound: Promise<Readonly<Record<string, NodeFound>>>;
    /**
     * What converging the nodes that exist takes (a container, or a volume kept without
     * one); `drifted` makes the converge step run. One query per node besides.
     */
    convergence(superuserPassword: () => Promise<string | undefined>): Promise<ConvergencePlan>;
    /**
     * With pgtopo:backup on: whether the stack's repository holds a full backup, asked of
     * the first node that answers ("unknown" when none does, or the stack is new), so that
     * the first full backup is taken once per stack and again only when the repository
     * has none, never because the primary changed.
     */
    readonly repository: Promise<RepositoryFinding>;
    /**
     * pgtopo:backup.repositoryHost: what the listing found of the repository's container
     * (undefined without one, or when its engine did not answer: then nothing is repaired).
     */
    readonly repositoryHostFound: Promise<RepositoryHostFound | undefined>;
}

/** The repository host's container as the survey found it: recreated when removed by hand, started when stopped. */
export interface RepositoryHostFound extends NodeFound {
    /** Its container is there but not running (stopped by hand, say): this `up` starts it. */
    readonly stopped: boolean;
}

/** What the repository holds, as the first node that could ask pgBackRest found; or why it cannot be reached. */
export type RepositoryFinding = "full backup" | "no full backup" | "unknown" | { readonly unreachable: string };

/** One node as the listings found it, before this `up` changed anything. */
export interface NodeFound {
    /** The generation label its container carries, or a new one when it must be recreated (planning/generation.ts). */
    readonly generation?: string;
    /**
     * Its container or volume existed. Only such a node can be restarted by its settings
     * step, so only then do the steps that use it wait for that step (PostgresNode.settled).
     */
    readonly existed: boolean;
    /** Its container is gone but its volume is there: the container was removed behind pgtopo's back. */
    readonly recreated: boolean;
}

/**
 * Looks at a stack's containers, volumes and servers. Read-only. `pulumi up` itself only
 * knows what its state says; this is how the program learns what broke since (a container
 * killed or removed, a slot lost, a standby promoted by hand), so that a plain `up`
 * repairs it. The listings start at once; the queries once the password is at hand.
 */
export function surveyStack(
    stack: string,
    request: ConvergeRequest,
    options: {
        readonly backups?: boolean;
        /** pgtopo:backup.repositoryHost: the engine its container runs on (undefined: this machine's). */
        readonly repositoryHost?: { readonly dockerHost?: string };
    } = {},
): StackSurvey {
    const names = stackNames(stack);
    // Each engine the nodes run on (one, or one per host of pgtopo:hosts), listed at once.
    // A host marked gone is never contacted (its nodes are reported, not asked).
    const engines = new Map(request.nodes.filter((n) => !n.gone).map((n) => [n.dockerHost, n.host]));
    const withRouters = request.routers.length > 0;
    const split = (lines: string[]) => new Map(lines.map((line) => line.split("|") as [string, string]));
    const listed = Promise.all([...engines].map(([engine, host]) => listEngine(stack, engine, host, withRouters))).then(
        (lists) => ({
            labels: split(lists.flatMap((l) => l.containers)),
            routerLabels: split(lists.flatMap((l) => l.routers)),
            volumes: new Set(lists.flatMap((l) => l.volumes)),
        }),
    );
    const now = new Date();
    /** What the listings say of a container and the volume that outlives it. */
    const foundOf = (
        labels: ReadonlyMap<string, string>,
        key: string,
        volume: string,
        volumes: ReadonlySet<string>,
    ): NodeFound => {
        const seen = { container: labels.has(key), volume: volumes.has(volume) };
        return {
            generation: containerGeneration({ ...seen, label: labels.get(key) || undefined }, now),
            existed: seen.container || seen.volume,
            recreated: !seen.container && seen.volume,
        };
    };
    const found = listed.then(({ labels, volumes }) =>
        Object.fromEntries(
            request.nodes.map((node) => [node.name, foundOf(labels, node.name, names.volume(node.name), volumes)]),
        ),
    );
    const routersFound = listed.then(({ routerLabels, volumes }) =>
        Object.fromEntries(
            request.routers.map((router) => [
                router.name,
                foundOf(routerLabels, router.name, names.routerVolume, volumes),
            ]),
        ),
    );
    const convergence = async (superuserPassword: () => Promise<string | undefined>) => {
        const { labels, volumes } = await listed;
        // A node with neither container nor volume is one this `up` creates: not observed,
        // so not drifted. A stack with no container has nothing to ask, and no password
        // to wait for yet.
        const existing = request.nodes.filter((n) => n.gone || labels.has(n.name) || volumes.has(names.volume(n.name)));
        const password = labels.size > 0 ? await superuserPassword() : undefined;
        // Over each node's published port when the password is at hand (a few
        // milliseconds), in its container otherwise (about 0.1 s, and CPU the `up` needs).
        const endpoints = endpointsOf(request, password);
        const [observed, routersObserved] = await Promise.all([
            Promise.all(existing.map((node) => observeNode(endpoints.find((e) => e.name === node.name)!))),
            Promise.all(request.routers.map((router) => dockerRouterDriver().observe(router))),
        ]);
        return planConvergence(request, observed, routersObserved);
    };
    const repository = options.backups
        ? listed.then(({ labels }) => repositoryFinding(request.nodes.filter((n) => !n.gone && labels.has(n.name))))
        : Promise.resolve<RepositoryFinding>("unknown");
    // An unreachable engine is reported once, through `engines`; the program stops there
    // and never asks for the rest.
    // The repository host's container, listed on its own engine. Its engine not answering
    // stops nothing here: the nodes keep their WAL meanwhile, and status says so.
    const repositoryHostFound = options.repositoryHost
        ? listRepositoryHost(names, options.repositoryHost.dockerHost).then(
              (seen) =>
                  seen && {
                      ...foundOf(seen.labels, REPOSITORY_NAME, names.backupVolume, seen.volumes),
                      stopped: seen.stopped,
                  },
              () => undefined,
          )
        : Promise.resolve(undefined);
    for (const promise of [found, routersFound, repository]) promise.catch(() => undefined);
    return { engines: listed.then(() => undefined), found, routersFound, convergence, repository, repositoryHostFound };
}

/** The repository host's container (its generation, whether it runs) and the stack's backups volume, on its engine. */
async function listRepositoryHost(names: StackNames, engine: string | undefined) {
    const docker = async (...args: string[]) =>
        (await dockerText(engine, args, { timeout: ENGINE_TIMEOUT_SECONDS * 1000 })).split("\n").filter(Boolean);
    const [containers, volumes] = await Promise.all([
        docker("ps", "-a", "--filter", `name=^${names.repositoryContainer}$`,
            "--format", `{{.Label "${GENERATION_LABEL}"}}|{{.State}}`), // prettier-ignore
        docker("volume", "ls", "-q", "--filter", `name=^${names.backupVolume}$`),
    ]);
    const [generation, state] = containers[0]?.split("|") ?? [];
    return {
        labels: new Map(containers.length > 0 ? [[REPOSITORY_NAME, generation]] : []),
        volumes: new Set(volumes),
        stopped: state !== undefined && state !== "running" && state !== "restarting",
    };
}

/**
 * Whether the repository holds a full backup, as pgBackRest in a node's container says
 * (every node mounts the repository), asked in the planned order, the configured primary
 * first. A node that cannot say (stopped, say) passes the question on.
 */
async function repositoryFinding(
    nodes: readonly { container: string; dockerHost?: string }[],
): Promise<RepositoryFinding> {
    for (const node of nodes) {
        const info =
            await dockerText(node.dockerHost, ["exec", "-u", "postgres", node.container, "pgbackrest", `--io-timeout=${REPOSITORY_QUESTION_TIMEOUT}`, "info", "--output=json"], { timeout: 15_000 }) // prettier-ignore
                .then((out) => JSON.parse(out) as PgBackRestInfo[])
                .catch(() => undefined);
        if (!info) continue;
        // pgBackRest's "other" (99): the repository itself could not be read (an object
        // store that does not answer, say); its own words say why.
        const said = info.map(unreadableRepository).find((why) => why !== undefined);
        if (said !== undefined) return { unreachable: said };
        const full = info.some((stanza) => (stanza.backup ?? []).some((backup) => backup.type === "full"));
        return full ? "full backup" : "no full backup";
    }
    return "unknown";
}

/** The part of `pgbackrest info --output=json` the survey reads, per stanza. */
interface PgBackRestInfo extends StanzaStatus {
    readonly backup?: readonly { readonly type: string }[];
}

/** How long an engine may take to list a stack's objects before `up` says it cannot be reached. */
export const ENGINE_TIMEOUT_SECONDS = 20;

/**
 * The stack's node containers (name|generation) and volumes on one engine. An engine that
 * does not answer stops the program here, before any resource is declared, naming it.
 */
async function listEngine(stack: string, engine: string | undefined, host: string | undefined, withRouters: boolean) {
    const docker = async (...args: string[]) =>
        (await dockerText(engine, args, { timeout: ENGINE_TIMEOUT_SECONDS * 1000 })).split("\n").filter(Boolean);
    try {
        const [containers, volumes, routers] = await Promise.all([
            docker("ps", "-a", "--filter", `label=${STACK_LABEL}=${stack}`, "--filter", `label=${NODE_LABEL}`,
                "--format", `{{.Label "${NODE_LABEL}"}}|{{.Label "${GENERATION_LABEL}"}}`), // prettier-ignore
            docker("volume", "ls", "-q", "--filter", `label=${STACK_LABEL}=${stack}`),
            withRouters
                ? docker("ps", "-a", "--filter", `label=${STACK_LABEL}=${stack}`, "--filter", `label=${ROUTER_LABEL}`,
                      "--format", `{{.Label "${ROUTER_LABEL}"}}|{{.Label "${GENERATION_LABEL}"}}`) // prettier-ignore
                : Promise.resolve([]),
        ]);
        return { containers, volumes, routers };
    } catch (err) {
        const e = err as { killed?: boolean; stderr?: string; message: string };
        const why = e.killed
            ? `no answer within ${ENGINE_TIMEOUT_SECONDS}s`
            : (e.stderr ?? "").trim().split("\n").pop() || e.message.split("\n")[0];
        throw new EngineUnreachable(host, engine, why);
    }
}

/** A Docker engine of the stack that does not answer; the program reports it as the user's problem. */
export class EngineUnreachable extends Error {
    constructor(
        readonly host: string | undefined,
        readonly engine: string | undefined,
        readonly why: string,
    ) {
        super(
            host
                ? `pgtopo:hosts.${host}: its Docker engine (${engine}) cannot be reached: ${why}. ` +
                      `Nothing was changed. pgtopo cannot fence the nodes on a host it cannot reach; if ${host} ` +
                      `is lost and you accept that its nodes may have taken writes no other node has, set ` +
                      `pgtopo:hosts.${host}.gone: true to fail over without it (its nodes are left as they are ` +
                      `until you remove 'gone' once it is back; the next 'up' then fences them and keeps their ` +
                      `diverged writes aside)`
                : `the Docker engine on this machine cannot be reached: ${why}`,
        );
    }
}

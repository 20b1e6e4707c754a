import { BACKUPS_LABEL, stackNames } from "../contract/names";
import { PATHS, STANZA } from "../contract/image";
import { dockerText } from "../ops/docker";
import {
    recoverableWindow,
    restoreTarget,
    targetProblem,
    type ArchivedFile,
    type RecoverableWindow,
    type StanzaInfo,
} from "../planning/restore";
import type { ClusterConfig } from "../config/schema";
import {
    REPOSITORY_QUESTION_TIMEOUT,
    repositoryEnvironment,
    repositorySecrets,
    s3Url,
    unreadableRepository,
    type StanzaStatus,
} from "../planning/backup";

/**
 * Where another stack's repository is: its volume on this machine, or its prefix in the
 * object store of pgtopo:backup.s3 (pgBackRest's settings, the keys among them, handed to
 * the reading container through the environment only).
 */
export type RepositorySource =
    | { readonly kind: "volume"; readonly volume: string }
    | { readonly kind: "s3"; readonly environment: Record<string, string>; readonly where: string };

/**
 * What another stack's repository holds, read in a throwaway container: undefined when the
 * image to read it with is not here yet; an Error when the repository cannot be read.
 */
export type RepositoryReader = (
    source: RepositorySource,
    image: string,
    engine?: string,
    /** The restoring stack's postgresVersion: only the backups of that major count. */
    major?: string,
) => Promise<RecoverableWindow | "no backup" | { readonly otherMajors: readonly string[] } | Error | undefined>;

/**
 * pgBackRest's account of a repository: its oldest backup's end, and the newest archived
 * WAL segment (when it was stored, where it ends), the same questions for either kind.
 * A volume is mounted read-only with no network; an object store is reached over TLS.
 */
export const readRepository: RepositoryReader = async (source, image, engine, major) => {
    const hasImage = (on: string | undefined) => dockerText(on, ["image", "inspect", image]).then(() => true, () => false); // prettier-ignore
    // On the engine the restore will run on (with pgtopo:hosts, the primary's host), which
    // also checks its way to an object store; a host new to pgtopo has no image yet, and
    // this machine's engine, when it has one, can read an object store as well.
    if (!(await hasImage(engine))) {
        if (engine === undefined || source.kind !== "s3" || !(await hasImage(undefined))) return undefined;
        engine = undefined;
    }
    const pgbackrest = `pgbackrest --stanza=${STANZA} --log-level-console=error --io-timeout=${REPOSITORY_QUESTION_TIMEOUT}`;
    // The repository unreadable is an error; no archive in it yet is only an empty listing.
    const script = [
        // The image's own setup first: it writes the object store's CA where pgBackRest reads it.
        "source /usr/local/lib/pgtopo/common.sh",
        `info=$(${pgbackrest} info --output=json) || exit 1`,
        'echo "$info"',
        `${pgbackrest} repo-ls --recurse --output=json archive/${STANZA} 2>/dev/null || echo '{}'`,
    ].join("; ");
    const how =
        source.kind === "volume"
            ? ["--network", "none", "-v", `${source.volume}:${PATHS.restoreSource}:ro`, "-e", `PGBACKREST_REPO1_PATH=${PATHS.restoreSource}`] // prettier-ignore
            : Object.keys(source.environment).flatMap((name) => ["-e", name]);
    let out: string;
    try {
        out = await dockerText(engine, ["run", "--rm", ...how, "--entrypoint", "bash", image, "-c", script], {
            env: source.kind === "s3" ? source.environment : {},
            timeout: 60_000,
        });
    } catch (err) {
        const said = ((err as { stderr?: string }).stderr ?? String(err)).trim().split("\n").slice(-2).join(" ");
        return new Error(said);
    }
    const [json, listing] = out.split("\n");
    const [stanza] = JSON.parse(json) as (StanzaStatus & StanzaInfo)[];
    const unreadable = unreadableRepository(stanza);
    if (unreadable !== undefined) return new Error(unreadable);
    const archived: ArchivedFile[] = Object.entries(
        JSON.parse(listing || "{}") as Record<string, { type: string; time?: number }>,
    )
        .filter(([, entry]) => entry.type === "file")
        .map(([name, entry]) => ({ path: name, time: entry.time ?? 0 }));
    return recoverableWindow(stanza, archived, major);
};

export interface RestoreProbe {
    /** Whether a Docker volume exists (on this machine's engine, or on `engine`). */
    readonly volumeExists: (name: string, engine?: string) => Promise<boolean>;
    /** The stacks that have a backup repository volume on this machine's engine (or on `engine`). */
    readonly stacksWithBackups: (engine?: string) => Promise<string[]>;
    readonly readRepository: RepositoryReader;
}

export const dockerProbe: RestoreProbe = {
    volumeExists: (name, engine) =>
        dockerText(engine, ["volume", "inspect", name]).then(
            () => true,
            () => false,
        ),
    stacksWithBackups: async (engine) =>
        (
            await dockerText(engine, [
                "volume",
                "ls",
                "--filter",
                `label=${BACKUPS_LABEL}`,
                "--format",
                `{{.Label "${BACKUPS_LABEL}"}}`,
            ])
        )
            .split("\n")
            .filter(Boolean)
            .sort(),
    readRepository,
};

/**
 * A restore is checked before anything is made, while the stack's primary has no data
 * yet (afterwards the restore is done and the setting only records where the data came
 * from): the source is another stack, it has a repository with a backup in it, and the
 * target lies within what that repository can reach. Each problem names what exists.
 */
export async function restoreProblems(
    stack: string,
    config: ClusterConfig,
    probe: RestoreProbe = dockerProbe,
): Promise<string[]> {
    const restore = config.restore;
    if (!restore) return [];
    const from = restore.fromStack;
    if (from === stack) {
        return [`pgtopo:restore.fromStack: "${from}" is this stack itself; allowed: another stack with backups on`];
    }
    // With pgtopo:hosts, the primary's data and the restore are on the primary's host.
    const primary = config.nodes.find((n) => n.name === config.primary);
    const engine = primary?.host ? config.hosts?.[primary.host]?.docker : undefined;
    if (await probe.volumeExists(stackNames(stack).volume(config.primary), engine)) return [];
    const image = stackNames(stack).image(config.postgresVersion);
    const s3 = config.backup?.s3;
    if (s3) {
        // From the object store this stack backs up into: the source's prefix there.
        const environment = {
            ...repositoryEnvironment(config.backup!, from),
            ...repositorySecrets(config.backup!),
        };
        const where = s3Url(s3, from);
        return windowProblems(
            await probe.readRepository({ kind: "s3", environment, where }, image, engine, config.postgresVersion),
            where,
        );
    }
    // The source's volume: on this machine, or, with a repository host across hosts, on
    // that host's engine (its repository container reads it there for the restore).
    const repositoryHost = config.backup?.repositoryHost?.host;
    const sourceEngine = repositoryHost ? config.hosts?.[repositoryHost]?.docker : undefined;
    const on = repositoryHost ? ` on host ${repositoryHost} (pgtopo:backup.repositoryHost.host)` : "";
    const source = stackNames(from).backupVolume;
    if (!(await probe.volumeExists(source, sourceEngine))) {
        const others = (await probe.stacksWithBackups(sourceEngine)).filter((s) => s !== stack);
        const none = repositoryHost ? `none: no stack has a repository on host ${repositoryHost}` : "none: no stack on this machine has backups on"; // prettier-ignore
        return [
            `pgtopo:restore.fromStack: "${from}" has no backup repository${on} (no volume ${source}); ` +
                `allowed: ${others.length > 0 ? others.map((s) => `"${s}"`).join(", ") : none}`,
        ];
    }
    return windowProblems(
        await probe.readRepository({ kind: "volume", volume: source }, image, sourceEngine, config.postgresVersion),
        `volume ${source}${on}`,
    );

    function windowProblems(window: Awaited<ReturnType<RepositoryReader>>, where: string): string[] {
        if (window === "no backup") {
            const inStore = s3 ? ` in ${where}` : "";
            return [
                `pgtopo:restore.fromStack: "${from}" has no backup yet${inStore}; take one with 'npm run backup' on that stack`,
            ];
        }
        if (window instanceof Error) {
            return [`pgtopo:restore.fromStack: "${from}": its repository (${where}) cannot be read: ${window.message}`];
        }
        if (!window) return []; // the image to read it with is not here yet: the restore itself says what is wrong
        if ("otherMajors" in window) {
            return [
                `pgtopo:postgresVersion: "${config.postgresVersion}": stack ${from}'s backups are all of PostgreSQL ` +
                    `${window.otherMajors.join(", ")}, which a stack on ${config.postgresVersion} cannot restore; ` +
                    `allowed: ${window.otherMajors.map((m) => `"${m}"`).join(", ")}`,
            ];
        }
        const problem = targetProblem(restoreTarget(restore!.target), window, from);
        return problem ? [problem] : [];
    }
}

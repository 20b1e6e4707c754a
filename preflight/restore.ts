import { BACKUPS_LABEL, stackNames } from "../contract/names";
import { PATHS, STANZA } from "../contract/image";
import { dockerText } from "../ops/docker";
import { restoreTarget, segmentEnd, targetProblem, type RecoverableWindow } from "../planning/restore";
import type { ClusterConfig } from "../config/schema";

/** What another stack's repository holds, read in a throwaway container; undefined when it cannot be read here. */
export type RepositoryReader = (volume: string, image: string) => Promise<RecoverableWindow | "no backup" | undefined>;

/**
 * pgBackRest's account of a repository volume: its oldest backup's end, and the newest
 * archived WAL segment (when it was archived, where it ends). Read-only mount, no network.
 */
export const readRepository: RepositoryReader = async (volume, image) => {
    const script = [
        `pgbackrest --stanza=${STANZA} --repo1-path=${PATHS.restoreSource} --log-level-console=off info --output=json`,
        "echo",
        `find ${PATHS.restoreSource}/archive -name '????????????????????????-*' -printf '%T@ %f\\n' | sort -n | tail -n 1`,
    ].join("; ");
    const out = await dockerText(undefined, [
        "run", "--rm", "--network", "none", "-v", `${volume}:${PATHS.restoreSource}:ro`,
        "--entrypoint", "bash", image, "-c", script,
    ]).catch(() => undefined); // prettier-ignore
    if (out === undefined) return undefined;
    const [json, newest] = out.trim().split("\n");
    const backups = (JSON.parse(json)[0]?.backup ?? []) as { timestamp: { stop: number }; lsn: { stop: string } }[];
    if (backups.length === 0 || !newest) return "no backup";
    const [mtime, file] = newest.split(" ");
    return {
        from: { time: new Date(backups[0].timestamp.stop * 1000), lsn: backups[0].lsn.stop },
        to: { time: new Date(Number(mtime) * 1000), lsn: segmentEnd(file.slice(0, 24)) },
    };
};

export interface RestoreProbe {
    /** Whether a Docker volume exists. */
    readonly volumeExists: (name: string) => Promise<boolean>;
    /** The stacks that have a backup repository on this machine. */
    readonly stacksWithBackups: () => Promise<string[]>;
    readonly readRepository: RepositoryReader;
}

const docker = (...args: string[]) => dockerText(undefined, args);
export const dockerProbe: RestoreProbe = {
    volumeExists: (name) =>
        docker("volume", "inspect", name).then(
            () => true,
            () => false,
        ),
    stacksWithBackups: async () =>
        (
            await docker(
                "volume",
                "ls",
                "--filter",
                `label=${BACKUPS_LABEL}`,
                "--format",
                `{{.Label "${BACKUPS_LABEL}"}}`,
            )
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
    if (await probe.volumeExists(stackNames(stack).volume(config.primary))) return [];
    const source = stackNames(from).backupVolume;
    if (!(await probe.volumeExists(source))) {
        const others = (await probe.stacksWithBackups()).filter((s) => s !== stack);
        return [
            `pgtopo:restore.fromStack: "${from}" has no backup repository (no volume ${source}); ` +
                `allowed: ${others.length > 0 ? others.map((s) => `"${s}"`).join(", ") : "none: no stack on this machine has backups on"}`,
        ];
    }
    const window = await probe.readRepository(source, stackNames(stack).image(config.postgresVersion));
    if (window === "no backup") {
        return [`pgtopo:restore.fromStack: "${from}" has no backup yet; take one with 'npm run backup' on that stack`];
    }
    if (!window) return []; // the image to read it with is not here yet: the restore itself says what is wrong
    const problem = targetProblem(restoreTarget(restore.target), window, from);
    return problem ? [problem] : [];
}

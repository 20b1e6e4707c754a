import { ENV, HOST, PATHS, SCRIPTS } from "../contract/image";

/**
 * Shell text of the Command resources. Secrets never appear here: they reach the
 * command through its `environment`, and `docker run -e NAME` (no value) forwards them
 * from that environment into the one-shot container.
 */

export interface BootstrapCommandArgs {
    /** pgtopo-init (or pgtopo-restore) for the primary, pgtopo-clone for a standby. */
    readonly script: "pgtopo-init" | "pgtopo-restore" | "pgtopo-clone";
    readonly containerName: string;
    readonly network: string;
    readonly volume: string;
    readonly image: string;
    /** Names of environment variables forwarded into the container. */
    readonly forwardEnv: readonly string[];
    /** `pgtopo.stack=NAME`, so the stack's janitor finds a leftover of a killed run. */
    readonly stackLabel: string;
    /** More `-v` mounts (`volume:path[:ro]`): another stack's repository, for a restore. */
    readonly mounts?: readonly string[];
    /** `--add-host` entries (`name:address`): across hosts, the repository host by its name. */
    readonly hosts?: readonly string[];
}

/**
 * Runs a bootstrap script in a one-shot container on the node's volume, before the node
 * itself ever starts. A leftover container of an interrupted run is removed first; the
 * script itself is idempotent, so running this twice is harmless.
 */
export function bootstrapCommand(args: BootstrapCommandArgs): string {
    const env = args.forwardEnv.map((name) => `-e ${name}`).join(" ");
    const mounts = (args.mounts ?? []).map((mount) => ` -v ${mount}`).join("");
    const hosts = (args.hosts ?? []).map((entry) => ` --add-host ${entry}`).join("");
    return [
        `docker rm -f ${args.containerName} >/dev/null 2>&1 || true`,
        `docker run --rm --name ${args.containerName} --label ${args.stackLabel} --network ${args.network}${hosts}` +
            ` -v ${args.volume}:${PATHS.volume}${mounts} ${env} --entrypoint ${args.script} ${args.image}`,
    ].join("\n");
}

/**
 * Runs a bootstrap script inside the node's own container, which has started and waits
 * for its data directory (pgtopo-run): no container of its own to create, start and
 * remove, and the server starts the moment the script is done. The script is idempotent,
 * so running this twice is harmless.
 */
export function bootstrapInNodeCommand(args: {
    readonly script: "pgtopo-init" | "pgtopo-clone";
    readonly containerName: string;
    /** Names of environment variables forwarded into the script (`docker exec -e NAME`). */
    readonly forwardEnv: readonly string[];
}): string {
    const env = args.forwardEnv.map((name) => ` -e ${name}`).join("");
    // A failure is marked where the node's readiness gate, which waits beside this, sees it
    // (scripts/node-ready.sh): it then stops waiting for a server that will not start.
    const marker = bootstrapFailedMarker(args.containerName);
    return `rm -f ${marker}; docker exec${env} ${args.containerName} ${args.script} || { status=$?; touch ${marker}; exit $status; }`;
}

/** Made by a node's bootstrap when it fails; read by scripts/node-ready.sh (the same path). */
export function bootstrapFailedMarker(containerName: string): string {
    return `"${HOST.bootstrapFailedMarkerPrefix}${containerName}"`;
}

export function createSlotCommand(upstreamContainer: string, slot: string): string {
    return `docker exec ${upstreamContainer} pgtopo-slot create ${slot}`;
}

/**
 * Drops a standby's slot on its upstream (scripts/drop-slot.sh), unless the upstream's host
 * is marked gone. Run from the project root.
 */
export function dropSlotCommand(upstreamContainer: string, slot: string): string {
    return unlessGone(`slot ${slot} on ${upstreamContainer}`, `bash scripts/drop-slot.sh ${upstreamContainer} ${slot}`);
}

/**
 * A node's removal (scripts/remove-node.sh): its container, stopped cleanly, by name and
 * only of its generation, and with `dataVolume` its volume. Run from the project root.
 */
export function removeNodeCommand(container: string, generation: string | undefined, dataVolume?: string): string {
    const args = [container, shellQuote(generation ?? ""), ...(dataVolume ? [dataVolume] : [])].join(" ");
    return unlessGone(
        `container ${container}${dataVolume ? ` and volume ${dataVolume}` : ""}`,
        `bash scripts/remove-node.sh ${args}`,
    );
}

/** A removal step that leaves a host marked gone alone, saying what it left there (scripts/unless-gone.sh). */
function unlessGone(what: string, command: string): string {
    return `bash scripts/unless-gone.sh ${shellQuote(what)} ${command}`;
}

/** pgtopo:endpoints: the routers' role and lookup function, made on the primary (its password from the environment). */
export function routerAuthCommand(primaryContainer: string): string {
    return `docker exec -e ${ENV.routerPassword} ${primaryContainer} ${SCRIPTS.routerAuth}`;
}

/** The stanza in the repository (idempotent) and a full backup, taken on the primary. */
export function firstBackupCommand(primaryContainer: string): string {
    return `docker exec ${primaryContainer} pgtopo-backup full`;
}

/** Returns once Docker knows the network (polled every 0.05 s, for up to a minute). */
export function networkReadyCommand(network: string): string {
    return `for i in $(seq 1 1200); do docker network inspect ${network} >/dev/null 2>&1 && exit 0; sleep 0.05; done; echo "network ${network} did not appear" >&2; exit 1`;
}

/** Returns once PostgreSQL in the container accepts connections (scripts/node-ready.sh). */
export function readyCommand(container: string): string {
    return `bash scripts/node-ready.sh ${container}`;
}

/**
 * Applies pgtopo.conf to a running node, restarting it when a changed setting needs
 * that (scripts/node-configure.sh; PGTOPO_SETTINGS comes from the environment).
 */
export function configureCommand(container: string): string {
    return `bash scripts/node-configure.sh ${container}`;
}

/** Re-points a standby (reload, no restart, no clone); a no-op when it already follows. */
export function followCommand(container: string, upstream: string, slot: string): string {
    // A container removed while this `up` runs (the survey before it still saw it): the
    // next `up` recreates it; say so instead of docker's bare "No such container".
    const missing = `echo "pgtopo: container ${container} does not exist (removed outside pgtopo); run 'pulumi up' again to recreate it on its volume" >&2; exit 1`;
    return `if ! docker container inspect ${container} >/dev/null 2>&1; then ${missing}; fi; docker exec ${container} pgtopo-follow ${upstream} ${slot}`;
}

/**
 * Run when the stack is destroyed, after every node is gone (scripts/remove-stack.sh):
 * removes what is left with the stack's label, among them the volumes kept when nodes
 * were removed from the config (deleteDataOnRemove: false), and the stack's network, so
 * that `pulumi destroy` leaves nothing of the stack behind on a host it can reach.
 */
export function removeStackObjectsCommand(stackLabel: string, network: string): string {
    return unlessGone(
        `the stack's containers, volumes and network (${stackLabel})`,
        `bash scripts/remove-stack.sh ${stackLabel} ${network}`,
    );
}

/** 32 letters and digits from the kernel's CSPRNG; the node scripts accept exactly that alphabet. */
export const GENERATE_PASSWORD_COMMAND = "head -c 600 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | head -c 32";

const shellQuote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

/**
 * pgtopo:tls: the stack's CA certificate (public) copied out of a node onto this machine,
 * where the connection strings name it, so that clients here verify the nodes.
 */
export function caFileCommand(container: string, file: string): string {
    const target = shellQuote(file);
    const partial = shellQuote(`${file}.partial`);
    return [
        `mkdir -p "$(dirname ${target})"`,
        `docker exec ${container} cat ${PATHS.tls}/ca.crt > ${partial}`,
        `mv ${partial} ${target}`,
    ].join(" && ");
}

export function removeFileCommand(file: string): string {
    return `rm -f ${shellQuote(file)}`;
}

/** Copies an image (tag appended: the node image, the router image) from this machine's engine onto a host's (scripts/load-image.sh). */
export function loadImageCommand(dockerHost: string): string {
    return `bash scripts/load-image.sh ${shellQuote(dockerHost)}`;
}

/**
 * pgtopo:hosts: one CA for every host's TLS volume (scripts/share-ca.sh): made on the
 * first host, its certificate and key piped from engine to engine, never through a file
 * or Pulumi state here.
 */
export function shareCaCommand(image: string, volume: string, dockerHosts: readonly string[]): string {
    return `bash scripts/share-ca.sh ${[image, volume, ...dockerHosts].map(shellQuote).join(" ")}`;
}

export function removeDirectoryCommand(dir: string): string {
    return `rm -rf ${shellQuote(dir)}`;
}

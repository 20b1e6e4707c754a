import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { loadImageCommand, networkReadyCommand, removeDirectoryCommand, removeStackObjectsCommand } from "./commands";
import { dockerEnv, type DockerTls } from "../ops/docker";
import { PROJECT_ROOT, STACK_LABEL, type StackNames } from "../contract/names";

/**
 * One Docker engine the stack runs nodes on, with what every node there shares: the
 * stack's network, the janitor that removes its volumes on destroy, the TLS volume, and
 * the node image. On one machine that is the local engine, with the resource names
 * pgtopo always gave them; with pgtopo:hosts, one per host, named after it, each through
 * its own docker provider, and every Command that touches it gets its DOCKER_HOST.
 */
export interface Engine {
    /** The host's name in pgtopo:hosts; undefined for the local engine. */
    readonly host?: string;
    /** pgtopo:hosts.NAME.gone: never contacted; everything on it is left as it is. */
    readonly gone: boolean;
    /** Resource options for the docker resources on this engine (its provider). */
    readonly provider?: docker.Provider;
    /** Environment of every Command acting on this engine (ops/docker.ts, dockerEnv); empty for the local one. */
    readonly env: Record<string, string>;
    /**
     * `env` as a Command's `environment`, to spread into its args: nothing at all on the
     * local engine, so that Commands of a stack made before hosts existed do not change.
     */
    readonly commandEnv: { readonly environment?: Record<string, string> };
    /** Created before the node volumes and removed after them. */
    readonly janitor: command.local.Command;
    /** Done once the stack's network exists on this engine. */
    readonly networkReady: command.local.Command;
    /** The stack's CA and certificates on this engine (pgtopo:tls or pgtopo:backup). */
    readonly tlsVolumeName?: pulumi.Output<string>;
    /** The node image's ID, once the image is on this engine. */
    readonly imageId: pulumi.Output<string>;
    /** Done once the image is on this engine (the build, or the load onto a host). */
    readonly imageReady: pulumi.Resource[];
    /**
     * Another image built on the local engine (the router image), brought onto this one the
     * way the node image is: its ID there, and what is done once it is there.
     */
    bring(
        resourceName: string,
        image: BuiltImage,
    ): { readonly id: pulumi.Output<string>; readonly ready: pulumi.Resource[] };
}

/** An image as built on the local engine: its tag and ID, and the build resource. */
export interface BuiltImage {
    readonly name: pulumi.Output<string>;
    readonly id: pulumi.Output<string>;
    readonly built: pulumi.Resource;
}

export interface EngineArgs {
    readonly stack: string;
    readonly names: StackNames;
    /** Prefix of the resource names: the cluster's name, or `<cluster>-<host>`. */
    readonly resourcePrefix: string;
    readonly host?: {
        readonly name: string;
        readonly docker: string;
        readonly gone: boolean;
        /** A tcp:// engine's TLS material (PEM), handed to the provider as secrets. */
        readonly tls?: DockerTls;
    };
    readonly withTlsVolume: boolean;
    /** The node image as built on the local engine. */
    readonly image: BuiltImage;
}

/**
 * The docker provider's engine URL for a host marked gone. pulumi-docker connects to its
 * engine whenever it is configured, which Pulumi does for every provider of the stack's
 * state, even one on which nothing is done: a lost host would stop every `up` and every
 * `destroy`. An ssh:// engine is the one it does not connect to until a resource needs it,
 * and nothing on a host marked gone ever does (its resources are frozen, and deleted by
 * pgtopo's own steps, which leave it alone), so while gone the provider names one under
 * the reserved .invalid domain: were anything to use it, it would fail at once, naming the
 * host as gone. The change is an update of the provider, not a replacement of what is on
 * the host; the real URL comes back with the host.
 */
export function goneHostProviderUrl(host: string): string {
    return `ssh://${host}.marked-gone.invalid`;
}

export function declareEngine(parent: pulumi.Resource, args: EngineArgs): Engine {
    const { names, stack, resourcePrefix: prefix, host } = args;
    const env = dockerEnv(host?.docker);
    const provider = host
        ? new docker.Provider(
              `${prefix}-engine`,
              {
                  host: host.gone ? goneHostProviderUrl(host.name) : host.docker,
                  ...(host.tls && !host.gone
                      ? {
                            caMaterial: pulumi.secret(host.tls.ca),
                            certMaterial: pulumi.secret(host.tls.cert),
                            keyMaterial: pulumi.secret(host.tls.key),
                        }
                      : {}),
              },
              { parent },
          )
        : undefined;
    const commandEnv = host ? { environment: env } : {};
    // A tcp:// engine's client certificate, written by the program for the docker CLI
    // steps (ops/docker.ts): removed with the stack, like the CA file of pgtopo:tls.
    // Everything on the engine depends on it, so that destroy removes it last.
    const dockerTls = host?.tls
        ? new command.local.Command(
              `${prefix}-docker-tls`,
              {
                  create: `echo "${env.DOCKER_CERT_PATH} holds the client certificate for ${host.docker}"`,
                  delete: removeDirectoryCommand(env.DOCKER_CERT_PATH),
              },
              { parent },
          )
        : undefined;
    const afterTls = dockerTls ? [dockerTls] : [];
    // A host marked gone is never contacted: what pgtopo made there stays as the state says
    // (no update, no replacement), and comes back under management once 'gone' is removed.
    const frozen = host?.gone ? { ignoreChanges: ["*"] } : {};

    // Every node depends on this, so on destroy it goes last and takes with it the volumes
    // kept from removed nodes, the TLS volume and the network (those two are deleted with
    // it, not by the provider: its delete cannot run on a host marked gone).
    const janitor = new command.local.Command(
        `${prefix}-data-janitor`,
        {
            create: `echo "volumes labelled ${STACK_LABEL}=${stack} are removed when the stack is destroyed"`,
            delete: removeStackObjectsCommand(`${STACK_LABEL}=${stack}`, names.network),
            dir: PROJECT_ROOT,
            ...commandEnv,
        },
        { parent, dependsOn: afterTls, ...frozen },
    );
    new docker.Network(
        `${prefix}-network`,
        { name: names.network, driver: "bridge", labels: [{ label: STACK_LABEL, value: stack }] },
        { parent, provider, dependsOn: afterTls, deletedWith: janitor, ...frozen },
    );
    // The provider reports a new network only after a fixed 2 s wait, though Docker made
    // it at once; what attaches to it waits on this poll instead, which took 2 s off a
    // cold `up`'s critical path (docs/benchmarks.md). Destroy still removes the network
    // last: the provider retries removing a network while containers are attached.
    const networkReady = new command.local.Command(
        `${prefix}-network-ready`,
        { create: networkReadyCommand(names.network), ...commandEnv },
        { parent, dependsOn: afterTls, ...frozen },
    );
    // The stack's CA and the nodes' certificates, for PostgreSQL's TLS (pgtopo:tls) and
    // pgBackRest's TLS servers (pgtopo:backup): made by the nodes themselves
    // (pgtopo-tls), never in Pulumi state; removed with the stack.
    const tlsVolumeName = args.withTlsVolume
        ? new docker.Volume(
              `${prefix}-tls`,
              { name: names.tlsVolume, labels: [{ label: STACK_LABEL, value: stack }] },
              { parent, provider, dependsOn: [janitor, ...afterTls], deletedWith: janitor, ...frozen },
          ).name
        : undefined;

    if (!host) {
        return {
            gone: false,
            env,
            commandEnv,
            janitor,
            networkReady,
            tlsVolumeName,
            imageId: args.image.id,
            imageReady: [args.image.built],
            bring: (_name, image) => ({ id: image.id, ready: [image.built] }),
        };
    }
    // A host gets the images built here, copied engine to engine (docker save | load) when
    // it does not have that ID yet: one build for every host, and no registry needed.
    const bring = (resourceName: string, image: BuiltImage) => {
        const load = new command.local.Command(
            resourceName,
            {
                create: pulumi.interpolate`${loadImageCommand(host.docker)} ${image.name}`,
                dir: PROJECT_ROOT,
                triggers: [image.id],
            },
            { parent, dependsOn: [image.built, ...afterTls], ...frozen },
        );
        return { id: pulumi.all([image.id, load.stdout]).apply(([id]) => id), ready: [load] };
    };
    const node = bring(`${prefix}-image`, args.image);
    return {
        host: host.name,
        gone: host.gone,
        provider,
        env,
        commandEnv,
        janitor,
        networkReady,
        tlsVolumeName,
        imageId: node.id,
        imageReady: node.ready,
        bring,
    };
}

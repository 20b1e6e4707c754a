import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { EndpointsConfig } from "../config/schema";
import { ROUTER } from "../contract/image";
import { GENERATION_LABEL, PROJECT_ROOT, ROUTER_LABEL, STACK_LABEL, type StackNames } from "../contract/names";
import { listenersOf, ROUTER_NAME, type RouterPlan } from "../planning/routers";
import type { NodeFound } from "../preflight/survey";
import { removeNodeCommand } from "./commands";
import type { BuiltImage, Engine } from "./engine";

export interface RouterArgs {
    readonly stack: string;
    readonly names: StackNames;
    readonly router: RouterPlan;
    readonly engine: Engine;
    /** The router image as built on the local engine (brought onto a host's engine here). */
    readonly image: BuiltImage;
    readonly endpoints: EndpointsConfig;
    /** The password of the role the router looks clients up as (pgtopo-router-auth makes it). */
    readonly password: pulumi.Input<string>;
    /** pgtopo:tls: clients must use TLS, and the router verifies the servers against the stack's CA. */
    readonly tls: boolean;
    /** pgtopo:clients: who may connect, besides the stack's network and loopback. */
    readonly clientAddresses: readonly string[];
    /** What the survey found of it before this `up` (its generation); absent under mocks. */
    readonly found?: NodeFound;
    /** What must be done before it starts: with TLS, the stack's CA in the TLS volume. */
    readonly after: pulumi.Input<pulumi.Resource>[];
}

/**
 * One router of pgtopo:endpoints (images/pgbouncer): a container on its host's engine that
 * publishes the rw and ro listeners, and the volume that keeps where they point across
 * replacements of the container. The container starts unpointed and waits; the cluster's
 * converge step points it (ops/converge/routers.ts), and moves it at every change of
 * primary, in place, with no change to any resource here.
 *
 * Removed the way a node is: by pgtopo's own step, by name and generation
 * (scripts/remove-node.sh, with its volume), which tolerates a container removed by hand
 * and leaves a host marked gone alone; a container removed by hand is recreated by the
 * next `up` through a new generation label (planning/generation.ts).
 */
export class PgTopoRouter extends pulumi.ComponentResource {
    readonly container: docker.Container;

    constructor(name: string, args: RouterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:Router", name, {}, opts);
        const { router, engine, names, endpoints } = args;
        const frozen = router.gone ? { ignoreChanges: ["*"] } : {};
        const labels = [
            { label: STACK_LABEL, value: args.stack },
            { label: ROUTER_LABEL, value: router.name },
        ];
        const generation = args.found?.generation;

        const removal = new command.local.Command(
            `${name}-removal`,
            {
                delete: removeNodeCommand(router.container, generation, names.routerVolume),
                dir: PROJECT_ROOT,
                triggers: [generation ?? ""],
                ...engine.commandEnv,
            },
            { parent: this, dependsOn: [engine.janitor], ...frozen },
        );
        const volume = new docker.Volume(
            `${name}-data`,
            { name: names.routerVolume, labels },
            { parent: this, provider: engine.provider, dependsOn: [engine.janitor], deletedWith: removal, ...frozen },
        );
        const image = engine.bring(`${name}-image`, args.image);
        const listeners = listenersOf(router).map((l) => [l, router.listeners[l]!] as const);

        this.container = new docker.Container(
            `${name}-server`,
            {
                name: router.container,
                // The name its certificate carries, and nodes' logs show, on the stack's network.
                hostname: ROUTER_NAME,
                image: image.id,
                envs: [
                    pulumi.interpolate`${ROUTER.env.password}=${args.password}`,
                    `${ROUTER.env.poolMode}=${endpoints.pooling}`,
                    `${ROUTER.env.maxClientConnections}=${endpoints.maxClientConnections}`,
                    `${ROUTER.env.poolSize}=${endpoints.poolSize}`,
                    `${ROUTER.env.name}=${ROUTER_NAME}`,
                    `${ROUTER.env.tls}=${args.tls ? "on" : "off"}`,
                    ...(router.host
                        ? [
                              `${ROUTER.env.address}=${router.address}`,
                              `${ROUTER.env.clientAddresses}=${args.clientAddresses.join(" ")}`,
                          ]
                        : []),
                ],
                labels: generation ? [...labels, { label: GENERATION_LABEL, value: generation }] : labels,
                networksAdvanced: [{ name: names.network, aliases: [ROUTER_NAME] }],
                // Like the nodes: on loopback on one machine, on the host's address across hosts.
                ports: listeners.map(([listener, port]) => ({
                    internal: ROUTER.ports[listener],
                    external: port,
                    ip: router.address,
                })),
                volumes: [
                    { volumeName: volume.name, containerPath: ROUTER.paths.data },
                    ...(engine.tlsVolumeName
                        ? [{ volumeName: engine.tlsVolumeName, containerPath: ROUTER.paths.tls, readOnly: true }]
                        : []),
                ],
                // The auth_user's password and the router's TLS key are written there: never to a disk.
                tmpfs: { [ROUTER.paths.runtime]: "rw,size=16m,mode=0700" },
                restart: "unless-stopped",
                init: true,
                // A safe shutdown (the image's STOPSIGNAL, SIGINT): transactions in flight end
                // first. Fixed (the longest pauseTimeout and some), so that a new pauseTimeout
                // changes nothing here.
                destroyGraceSeconds: 80,
            },
            {
                parent: this,
                provider: engine.provider,
                dependsOn: [volume, engine.networkReady, ...image.ready, ...args.after],
                additionalSecretOutputs: ["envs"],
                deletedWith: removal,
                // A fixed name: a replacement removes the old one first, except one removed by
                // hand, whose name is free (as for the nodes, components/node.ts).
                deleteBeforeReplace: !args.found?.recreated,
                ...frozen,
            },
        );
        this.registerOutputs({ containerName: router.container });
    }
}

import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { DEBIAN_RELEASE_OF, defaultBaseImage, type PostgresVersion } from "../config/schema";
import { PROJECT_ROOT } from "../contract/names";

export interface NodeImageArgs {
    /** Image name and tag to build, e.g. pgtopo/postgres:15. */
    readonly imageName: string;
    /** PostgreSQL major version installed from the base image's Debian archive. */
    readonly postgresVersion: PostgresVersion;
    /** The Debian image to build on: pgtopo's own for the version, or one the user names. */
    readonly baseImage: string;
    /**
     * Whether the base image is on the engine already (as `npm run up` makes sure): the
     * build then starts at once instead of after the step that makes it when missing.
     * Unknown (unit tests): the build waits for that step.
     */
    readonly baseImagePresent?: Promise<boolean>;
}

/** The build context: the Dockerfile and the pgtopo-* scripts of images/postgres. */
export const NODE_IMAGE_CONTEXT = path.join(__dirname, "..", "images", "postgres");

/**
 * A digest of every file in the build context (path, mode, content), so that the image
 * is rebuilt exactly when something in it changed, and never otherwise.
 */
export function contextDigest(dir: string): string {
    const hash = createHash("sha256");
    const walk = (rel: string) => {
        for (const entry of fs
            .readdirSync(path.join(dir, rel), { withFileTypes: true })
            .sort((a, b) => (a.name < b.name ? -1 : 1))) {
            const relPath = path.posix.join(rel, entry.name);
            if (entry.isDirectory()) {
                walk(relPath);
                continue;
            }
            const full = path.join(dir, relPath);
            hash.update(`${relPath}\0${fs.statSync(full).mode & 0o777}\0`);
            hash.update(fs.readFileSync(full));
            hash.update("\0");
        }
    };
    walk("");
    return hash.digest("hex");
}

/**
 * The one image every node runs, built locally by the Docker engine and never pushed.
 * It is @pulumi/docker's RemoteImage with a `build` block (the bridged docker_image
 * resource), which the offline toolchain's docker plugin provides; `keepLocally`
 * leaves it in place on destroy, since every stack of this machine shares it.
 */
export class NodeImage extends pulumi.ComponentResource {
    readonly imageName: pulumi.Output<string>;
    /** The built image's ID: containers follow it, so a rebuilt image replaces them. */
    readonly imageId: pulumi.Output<string>;

    constructor(name: string, args: NodeImageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:NodeImage", name, {}, opts);
        const image = buildLocally(this, name, {
            imageName: args.imageName,
            context: NODE_IMAGE_CONTEXT,
            buildArgs: { PG_MAJOR: args.postgresVersion, BASE_IMAGE: args.baseImage },
            baseImage: args.baseImage,
            release: DEBIAN_RELEASE_OF[args.postgresVersion],
            ownBaseImage: args.baseImage === defaultBaseImage(args.postgresVersion),
            baseImagePresent: args.baseImagePresent,
        });
        this.imageName = image.name;
        this.imageId = image.imageId;
        this.registerOutputs({ imageName: this.imageName, imageId: this.imageId });
    }
}

/** The router image's build context (PgBouncer from Debian trixie: images/pgbouncer). */
export const ROUTER_IMAGE_CONTEXT = path.join(__dirname, "..", "images", "pgbouncer");
/** PgBouncer 1.24 (max_prepared_statements, multi-host pools) is in trixie; bookworm has 1.18. */
const ROUTER_RELEASE = "trixie";

/**
 * The router image of pgtopo:endpoints (images/pgbouncer), built locally like the node
 * image, on pgtopo's own trixie base image whatever the stack's PostgreSQL major, and kept
 * across stacks.
 */
export class RouterImage extends pulumi.ComponentResource {
    readonly imageName: pulumi.Output<string>;
    readonly imageId: pulumi.Output<string>;

    constructor(name: string, args: { readonly imageName: string }, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:RouterImage", name, {}, opts);
        const baseImage = `pgtopo/debian:${ROUTER_RELEASE}`;
        const image = buildLocally(this, name, {
            imageName: args.imageName,
            context: ROUTER_IMAGE_CONTEXT,
            buildArgs: { BASE_IMAGE: baseImage },
            baseImage,
            release: ROUTER_RELEASE,
            ownBaseImage: true,
        });
        this.imageName = image.name;
        this.imageId = image.imageId;
        this.registerOutputs({ imageName: this.imageName, imageId: this.imageId });
    }
}

/**
 * An image built by the local engine from a context of the repository, never pushed, kept
 * on destroy (stacks share it), rebuilt exactly when its context changes. pgtopo's own base
 * image cannot be pulled: it is made first (debootstrap + import) when missing, and also
 * whenever the image is about to be rebuilt (a new context), since a base image removed
 * since the last build would fail that build.
 */
function buildLocally(
    parent: pulumi.Resource,
    name: string,
    spec: {
        readonly imageName: string;
        readonly context: string;
        readonly buildArgs: Record<string, string>;
        readonly baseImage: string;
        readonly release: string;
        /** pgtopo's own base image (made here), not one the user names. */
        readonly ownBaseImage: boolean;
        /** Whether the base image is on the engine already; unknown: the build waits for the step that makes it. */
        readonly baseImagePresent?: Promise<boolean>;
    },
): docker.RemoteImage {
    const context = contextDigest(spec.context);
    const baseImage = spec.ownBaseImage
        ? new command.local.Command(
              `${name}-base`,
              {
                  create: `bash scripts/base-image.sh ${spec.release} ${spec.baseImage}`,
                  dir: PROJECT_ROOT,
                  triggers: [spec.baseImage, context],
              },
              { parent },
          )
        : undefined;
    return new docker.RemoteImage(
        `${name}-build`,
        {
            name: spec.imageName,
            keepLocally: true,
            build: {
                context: spec.context,
                dockerfile: "Dockerfile",
                buildArgs: spec.buildArgs,
                // The classic builder needs no BuildKit frontend image, which an offline
                // engine could not pull.
                version: "1",
            },
            triggers: { context, ...spec.buildArgs },
        },
        {
            parent,
            // (An ordering only: a change of it never rebuilds the image.)
            dependsOn: baseImage
                ? pulumi.output(spec.baseImagePresent ?? false).apply((present) => (present ? [] : [baseImage]))
                : [],
        },
    );
}

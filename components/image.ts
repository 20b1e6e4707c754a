import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";

export interface NodeImageArgs {
    /** Image name and tag to build, e.g. pgtopo/postgres:15. */
    readonly imageName: string;
    /** PostgreSQL major version installed from the base image's Debian archive. */
    readonly postgresVersion: string;
    /** Debian bookworm base; made locally by scripts/setup-docker.sh where nothing can be pulled. */
    readonly baseImage: string;
}

/** The build context: the Dockerfile and the pgtopo-* scripts of images/postgres. */
export const NODE_IMAGE_CONTEXT = path.join(__dirname, "..", "images", "postgres");

/**
 * The one image every node runs. Built locally and never pushed; the provider hashes
 * the build context, so an unchanged context means no rebuild and no container change.
 */
export class NodeImage extends pulumi.ComponentResource {
    readonly imageName: pulumi.Output<string>;
    /** The built image's ID: containers follow it, so a rebuilt image replaces them. */
    readonly imageId: pulumi.Output<string>;

    constructor(name: string, args: NodeImageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:NodeImage", name, {}, opts);
        const image = new docker.Image(
            `${name}-build`,
            {
                imageName: args.imageName,
                skipPush: true,
                build: {
                    context: NODE_IMAGE_CONTEXT,
                    dockerfile: path.join(NODE_IMAGE_CONTEXT, "Dockerfile"),
                    args: { PG_MAJOR: args.postgresVersion, BASE_IMAGE: args.baseImage },
                    // The classic builder needs no BuildKit frontend image, which an
                    // offline engine could not pull.
                    builderVersion: "BuilderV1",
                },
            },
            { parent: this },
        );
        this.imageName = image.imageName;
        this.imageId = image.repoDigest;
        this.registerOutputs({ imageName: this.imageName, imageId: this.imageId });
    }
}

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PATHS } from "../contract/image";
import { PROJECT_ROOT, type StackNames } from "../contract/names";
import type { UpgradePlan } from "../planning/upgrade";
import type { PlannedNode } from "../planning/topology";
import type { Engine } from "./engine";
import { createSlotCommand, followCommand } from "./commands";

export interface MajorUpgradeArgs {
    readonly stack: string;
    readonly names: StackNames;
    readonly plan: UpgradePlan;
    /** The planned nodes: each standby's upstream and slot, made again on the new major. */
    readonly nodes: readonly PlannedNode[];
    /** The primary's engine, where the step runs (and every node it links: planning/upgrade.ts). */
    readonly engine: Engine;
    /** What the step waits for: the new major's node image on that engine. */
    readonly after: pulumi.Resource[];
    readonly superuserPassword: pulumi.Input<string>;
}

/**
 * A change of pgtopo:postgresVersion under running nodes (issue 23), as steps around the
 * replacement of the node containers by the new major's image:
 *  - `step` (scripts/upgrade.sh) runs first: every linked node's container replacement
 *    depends on it, so the old containers are still there while it checks, stops them,
 *    upgrades their volumes and, on a failure, starts them again as they were;
 *  - `following`, once the primary and the linked standbys are ready on the new major: their
 *    slots made again (pg_upgrade carries none from 15) and each standby following through
 *    its slot, by the same commands as any `up` (components/commands.ts), then a checkpoint
 *    on the primary. As early as that, because until a synchronous standby streams again
 *    every commit waits for it;
 *  - `reclone`, for each standby of `plan.recloned`, after `following`: a new base backup on
 *    its own engine, which its container's replacement waits for;
 *  - `finish` once every node is ready: each re-cloned standby checked to stream, then
 *    scripts/upgrade-finish.sh: statistics rebuilt, the old directories removed;
 *  - `backup`, with backups on: the repository's stanza upgraded and a new full backup.
 * Declared only in the `up` that upgrades; the next `up` drops them from the state, which
 * runs nothing (they have no delete command).
 */
export class MajorUpgrade extends pulumi.ComponentResource {
    readonly step: command.local.Command;
    readonly following: command.local.Command;
    /** The primary's and the linked standbys' `ready`, given by `nodesReady` once they exist. */
    private readonly linkedReady: { promise: Promise<pulumi.Resource[]>; resolve(ready: pulumi.Resource[]): void };

    constructor(
        private readonly resourceName: string,
        private readonly args: MajorUpgradeArgs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super("pgtopo:index:MajorUpgrade", resourceName, {}, opts);
        const { plan, names, nodes } = args;
        const pair = (node: string) => `${names.container(node)}=${names.volume(node)}`;
        this.step = new command.local.Command(
            `${resourceName}-step`,
            {
                create: "bash scripts/upgrade.sh",
                dir: PROJECT_ROOT,
                environment: {
                    ...args.engine.env,
                    PGTOPO_UPGRADE_FROM: plan.from,
                    PGTOPO_UPGRADE_TO: plan.to,
                    PGTOPO_UPGRADE_STACK: args.stack,
                    PGTOPO_UPGRADE_PRIMARY: pair(plan.primary),
                    PGTOPO_UPGRADE_STANDBYS: plan.linked.map(pair).join(" "),
                    PGPASSWORD: args.superuserPassword,
                },
                // A second `up` with the same change (after a failure) runs it again.
                triggers: [plan.from, plan.to],
            },
            { parent: this, dependsOn: args.after },
        );

        let resolve: (ready: pulumi.Resource[]) => void = () => undefined;
        this.linkedReady = { promise: new Promise((r) => (resolve = r)), resolve: (ready) => resolve(ready) };
        const afterLinked: Promise<pulumi.Resource[]> = this.linkedReady.promise.then((ready) => [this.step, ...ready]);
        // Upstreams before theirs (the planned order), so that a cascade follows in order.
        const linked = nodes.filter((n) => plan.linked.includes(n.name));
        this.following = new command.local.Command(
            `${resourceName}-following`,
            {
                create: [
                    ...linked.map((n) => createSlotCommand(names.container(n.upstream!), n.slot!)),
                    ...linked.map((n) => this.followCommandOf(n)),
                    // With full_page_writes on (pg_upgrade's server ran with it off): a standby
                    // gives a base backup only from a restartpoint at such a checkpoint.
                    `docker exec -u postgres ${names.container(plan.primary)} psql -h ${PATHS.socketDir} -d postgres -XAtqc CHECKPOINT`,
                ].join(" && "),
                dir: PROJECT_ROOT,
                environment: args.engine.env,
                triggers: [plan.from, plan.to],
            },
            { parent: this, dependsOn: afterLinked },
        );
        this.registerOutputs({});
    }

    /** Every node's `ready`, once the nodes exist: what `following` waits for (of the linked ones). */
    nodesReady(readyOf: ReadonlyMap<string, pulumi.Resource[]>): void {
        const { plan } = this.args;
        this.linkedReady.resolve([plan.primary, ...plan.linked].flatMap((n) => readyOf.get(n) ?? []));
    }

    private followCommandOf(n: PlannedNode): string {
        const upstream = this.args.nodes.find((u) => u.name === n.upstream)!;
        return followCommand(this.args.names.container(n.name), upstream.endpoint, n.slot!);
    }

    /**
     * A standby of `plan.recloned`: a new base backup from its upstream once the linked part
     * of the cluster streams on the new major (scripts/upgrade-reclone.sh), on the standby's
     * own engine. Its container's replacement by the new image waits for this.
     */
    reclone(
        node: PlannedNode,
        upstream: { readonly endpoint: string; readonly ready: pulumi.Resource[]; readonly settled: pulumi.Resource[] },
        engine: Engine,
        imageName: pulumi.Input<string>,
        replicationPassword: pulumi.Input<string>,
    ): command.local.Command {
        const { plan, names } = this.args;
        return new command.local.Command(
            `${this.resourceName}-reclone-${node.name}`,
            {
                create: `bash scripts/upgrade-reclone.sh ${names.container(node.name)} ${names.volume(node.name)}`,
                dir: PROJECT_ROOT,
                environment: {
                    ...engine.env,
                    PGTOPO_UPGRADE_TO: plan.to,
                    PGTOPO_UPGRADE_STACK: this.args.stack,
                    PGTOPO_IMAGE: imageName,
                    PGTOPO_NETWORK: names.network,
                    PGTOPO_NODE: node.name,
                    PGTOPO_UPSTREAM: upstream.endpoint,
                    PGTOPO_SLOT: node.slot!,
                    PGTOPO_REPLICATION_PASSWORD: replicationPassword,
                },
                triggers: [plan.from, plan.to],
            },
            {
                parent: this,
                dependsOn: [this.following, ...upstream.ready, ...upstream.settled, ...engine.imageReady],
            },
        );
    }

    /**
     * The last step, once every node is `ready` on the new major (see the class). `engines`:
     * each node's engine, for the re-cloned standbys, which may be on other hosts.
     */
    finish(ready: pulumi.Resource[], engines: ReadonlyMap<string, Engine>): command.local.Command {
        const { plan, names, nodes } = this.args;
        // A re-cloned standby's clone made its slot; it is checked to stream on its own engine.
        const recloned = nodes
            .filter((n) => plan.recloned.includes(n.name))
            .map(
                (n) =>
                    new command.local.Command(
                        `${this.resourceName}-follow-${n.name}`,
                        {
                            create: this.followCommandOf(n),
                            ...engines.get(n.name)!.commandEnv,
                            triggers: [plan.from, plan.to],
                        },
                        { parent: this, dependsOn: [this.following, ...ready] },
                    ),
            );
        return new command.local.Command(
            `${this.resourceName}-finish`,
            {
                create: "bash scripts/upgrade-finish.sh",
                dir: PROJECT_ROOT,
                environment: {
                    ...this.args.engine.env,
                    PGTOPO_UPGRADE_TO: plan.to,
                    PGTOPO_UPGRADE_PRIMARY: names.container(plan.primary),
                    // The volumes this engine holds an old directory and the mark on.
                    PGTOPO_UPGRADE_NODES: [plan.primary, ...plan.linked].map((n) => names.container(n)).join(" "),
                },
                triggers: [plan.from, plan.to],
            },
            { parent: this, dependsOn: [this.following, ...ready, ...recloned] },
        );
    }

    /**
     * With backups on, once the upgrade is finished: the repository's stanza upgraded to the
     * new major (pgBackRest refuses the new cluster's WAL until then; PostgreSQL keeps it
     * meanwhile) and a new full backup, the first one the new major can restore from.
     */
    backup(container: string, engineEnv: Record<string, string>, after: pulumi.Resource[]): command.local.Command {
        const { plan } = this.args;
        return new command.local.Command(
            `${this.resourceName}-backup`,
            {
                create: `bash scripts/upgrade-backup.sh ${container}`,
                dir: PROJECT_ROOT,
                environment: { ...engineEnv, PGTOPO_UPGRADE_TO: plan.to },
                triggers: [plan.from, plan.to],
            },
            { parent: this, dependsOn: after },
        );
    }
}

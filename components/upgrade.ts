import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
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
    /** The primary's engine, where every node of the upgrade runs (planning/upgrade.ts). */
    readonly engine: Engine;
    /** What the step waits for: the new major's node image on that engine. */
    readonly after: pulumi.Resource[];
    readonly superuserPassword: pulumi.Input<string>;
}

/**
 * A change of pgtopo:postgresVersion under running nodes (issue 23), as steps around the
 * replacement of the node containers by the new major's image:
 *  - `step` (scripts/upgrade.sh) runs first: every node container's replacement depends on
 *    it, so the old containers are still there while it checks, stops them, upgrades their
 *    volumes and, on a failure, starts them again as they were;
 *  - `finish` runs once every node is ready on the new major: the standbys' slots made
 *    again (pg_upgrade carries none from 15) and each standby following through its slot,
 *    by the same commands as any `up` (components/commands.ts), then
 *    scripts/upgrade-finish.sh: statistics rebuilt, the old directories removed;
 *  - `backup`, with backups on: the repository's stanza upgraded and a new full backup.
 * Declared only in the `up` that upgrades; the next `up` drops them from the state, which
 * runs nothing (they have no delete command).
 */
export class MajorUpgrade extends pulumi.ComponentResource {
    readonly step: command.local.Command;

    constructor(
        private readonly resourceName: string,
        private readonly args: MajorUpgradeArgs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super("pgtopo:index:MajorUpgrade", resourceName, {}, opts);
        const { plan, names } = args;
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
                    PGTOPO_UPGRADE_STANDBYS: plan.stopOrder
                        .filter((n) => n !== plan.primary)
                        .map(pair)
                        .join(" "),
                    PGPASSWORD: args.superuserPassword,
                },
                // A second `up` with the same change (after a failure) runs it again.
                triggers: [plan.from, plan.to],
            },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({});
    }

    /** The second step, once every node is `ready` on the new major (see the class). */
    finish(ready: pulumi.Resource[]): command.local.Command {
        const { plan, names, nodes } = this.args;
        const endpointOf = (name: string) => nodes.find((n) => n.name === name)!.endpoint;
        // Upstreams before theirs (the planned order), so that a cascade follows in order.
        const standbys = nodes.filter((n) => n.role !== "primary" && n.upstream && n.slot);
        return new command.local.Command(
            `${this.resourceName}-finish`,
            {
                create: [
                    ...standbys.map((n) => createSlotCommand(names.container(n.upstream!), n.slot!)),
                    ...standbys.map((n) => followCommand(names.container(n.name), endpointOf(n.upstream!), n.slot!)),
                    "bash scripts/upgrade-finish.sh",
                ].join(" && "),
                dir: PROJECT_ROOT,
                environment: {
                    ...this.args.engine.env,
                    PGTOPO_UPGRADE_TO: plan.to,
                    PGTOPO_UPGRADE_PRIMARY: names.container(plan.primary),
                    PGTOPO_UPGRADE_NODES: nodes.map((n) => names.container(n.name)).join(" "),
                },
                triggers: [plan.from, plan.to],
            },
            { parent: this, dependsOn: [this.step, ...ready] },
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

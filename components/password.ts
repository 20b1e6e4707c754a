import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { GENERATE_PASSWORD_COMMAND } from "./commands";

/**
 * A password generated once, when the resource is created, and kept in the stack state
 * as a secret. It changes only if the resource is replaced. A Command does this without
 * a further provider plugin (such as random), which on offline machines is one more Go
 * build; its output is never logged and is marked secret before it reaches the state.
 */
export class GeneratedPassword extends pulumi.ComponentResource {
    readonly value: pulumi.Output<string>;

    constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
        super("pgtopo:index:GeneratedPassword", name, {}, opts);
        const generator = new command.local.Command(
            `${name}-generator`,
            { create: GENERATE_PASSWORD_COMMAND, logging: "none" },
            // Generated once: a later change to how passwords are made must not make a
            // new one for a running cluster, whose roles still have the old.
            { parent: this, additionalSecretOutputs: ["stdout"], ignoreChanges: ["create"] },
        );
        this.value = pulumi.secret(generator.stdout.apply((s) => s.trim()));
        this.registerOutputs({ value: this.value });
    }
}

/**
 * The floor under pgtopo's converge time (bench/converge.ts): the tutorials' steps by hand
 * (bench/by-hand.sh), each run by a Pulumi Command resource, in their order, with no
 * checks, settings or secrets of pgtopo's. The difference between this and the by-hand
 * script is the Pulumi engine's own cost (CLI, language host, plugins, one resource per
 * step); the difference between pgtopo and this is pgtopo's.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";

const config = new pulumi.Config();
const name = config.require("name");
const [a, b, c] = config.requireObject<number[]>("ports");
const script = `bash ${path.join(__dirname, "..", "by-hand.sh")}`;

const primary = new command.local.Command("primary", {
    create: `${script} primary ${name} ${a}`,
    delete: `${script} down ${name}`,
});
const standby = new command.local.Command(
    "standby",
    { create: `${script} standby ${name} b a ${b}` },
    { dependsOn: [primary] },
);
const cascaded = new command.local.Command(
    "cascaded",
    { create: `${script} standby ${name} c b ${c}` },
    { dependsOn: [standby] },
);
new command.local.Command("streaming", { create: `${script} streaming ${name} b` }, { dependsOn: [cascaded] });

// As pgtopo's program/main.cjs, so that the floor runs the same way: TypeScript through
// tsx's CommonJS hook, with the runner's ts-node off (Pulumi.yaml: typescript: false).
"use strict";
require("tsx/cjs");
module.exports = require("./index.ts");

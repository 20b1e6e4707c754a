/**
 * The program's entry point (Pulumi.yaml `main`), run by the SDK's runner with
 * `typescript: false`, so that the runner does not load ts-node and the whole TypeScript
 * compiler (0.3 s of every `pulumi up` here). tsx's CommonJS hook compiles the program's
 * TypeScript instead (esbuild, cached on disk); registered only here, once the runner has
 * loaded the SDK, so that it never sees the SDK's own hundreds of files. Types are checked
 * by `tsc --noEmit` in the test command.
 */
"use strict";
require("tsx/cjs");
module.exports = require("../index.ts");

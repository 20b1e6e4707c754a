/**
 * The program's first import (index.ts), before @pulumi/pulumi: the SDK's index loads its
 * Automation API and, through its runtime index, the closure serializer with npm's
 * arborist and the TypeScript compiler, at every `pulumi up` (0.4 s of CPU or more here),
 * though a program like this one never calls them (pulumi/pulumi#10185 made the same
 * cut for the TypeScript compiler elsewhere; the SDK's dynamic providers already load the
 * serializer on demand). Each of those modules is put in Node's module cache as a
 * stand-in that loads the real module on first use. Plain CommonJS, so that it runs
 * before anything else whatever compiles the program (ts-node or tsx); were the SDK's
 * files ever laid out differently, nothing is replaced.
 */
"use strict";
const Module = require("module");
const fs = require("fs");
const path = require("path");

/** Exports that runtime/index.js copies at load time: forwarded to the real module when called. */
const EAGERLY_COPIED_FUNCTIONS = new Set([
    "serializeFunction",
    "serializeFunctionAsync",
    "computeCodePaths",
    "findWorkspaceRoot",
]);

function deferModule(file) {
    let real;
    const load = () => {
        if (!real) {
            delete require.cache[file];
            real = require(file);
        }
        return real;
    };
    const stub = new Proxy(
        {},
        {
            get(_, key) {
                if (key === "__esModule") return true;
                if (!real && EAGERLY_COPIED_FUNCTIONS.has(key)) return (...args) => load()[key](...args);
                return load()[key];
            },
            has: (_, key) => key in load(),
            ownKeys: () => Reflect.ownKeys(load()),
            getOwnPropertyDescriptor(_, key) {
                const descriptor = Object.getOwnPropertyDescriptor(load(), key);
                return descriptor && { ...descriptor, configurable: true };
            },
        },
    );
    const cached = new Module(file, null);
    cached.filename = file;
    cached.paths = [];
    cached.loaded = true;
    cached.exports = stub;
    require.cache[file] = cached;
}

let sdk;
try {
    sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [__dirname] }));
} catch {
    sdk = undefined;
}
if (sdk) {
    for (const relative of [
        "automation/index.js",
        "runtime/closure/serializeClosure.js",
        "runtime/closure/codePaths.js",
    ]) {
        const file = path.join(sdk, relative);
        try {
            fs.accessSync(file);
            deferModule(file);
        } catch {
            // not this SDK's layout: leave it to load as usual
        }
    }
}

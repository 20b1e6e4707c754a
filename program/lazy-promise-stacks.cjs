/**
 * The program's second import (index.ts). The SDK wraps most of its promises in
 * `debuggablePromise` (runtime/debuggable.js), which keeps a stack trace on each for its
 * "promise leaked" report, and formats that trace at once (`new Error().stack`). Under
 * ts-node or tsx, formatting maps every frame through source maps: 0.2 s of CPU in a cold
 * `up` of three nodes here, most of it while the resources are declared, for text that
 * is read only when a promise leaks. The trace is still captured where the promise is
 * made, and formatted only when the report asks for it, with the same text.
 * Were the SDK's files ever laid out differently, nothing is replaced.
 */
"use strict";
const path = require("path");

function formattedOnDemand(trace) {
    let text;
    return {
        toString() {
            if (text === undefined) text = String(trace.stack);
            return text;
        },
    };
}

let debuggable;
try {
    const sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [__dirname] }));
    debuggable = require(path.join(sdk, "runtime", "debuggable.js"));
} catch {
    debuggable = undefined;
}
const original = debuggable && debuggable.debuggablePromise;
if (typeof original === "function" && original.length === 2) {
    debuggable.debuggablePromise = function debuggablePromise(p, ctx) {
        // Captured here (V8 keeps the frames; formatting is what costs), without this frame.
        const trace = new Error();
        Error.captureStackTrace(trace, debuggablePromise);
        const limit = Error.stackTraceLimit;
        // The original's own `new Error().stack` is then the bare "Error": nothing to map.
        Error.stackTraceLimit = 0;
        let wrapped;
        try {
            wrapped = original(p, ctx);
        } finally {
            Error.stackTraceLimit = limit;
        }
        // Read only through promiseDebugString's template string, which calls toString.
        if (Object.getOwnPropertyDescriptor(p, "_debugStackTrace")?.writable) {
            p._debugStackTrace = formattedOnDemand(trace);
        }
        return wrapped;
    };
}

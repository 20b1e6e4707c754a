import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["tests/integration/**/*.test.ts"],
        // Each file drives real `pulumi up`s against one Docker engine: one at a time.
        fileParallelism: false,
        testTimeout: 20 * 60_000,
        hookTimeout: 20 * 60_000,
    },
});

import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** The files that need the test object store (SeaweedFS), whose first build runs beside the others. */
const USE_THE_OBJECT_STORE = /\/(backup|object-store)\.test\.ts$/;

/**
 * Vitest's own order, except that the files using the object store come last: on a machine
 * without it, scripts/test.sh builds it in the background, and the other files run meanwhile.
 */
class ObjectStoreLast extends BaseSequencer {
    override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
        const sorted = await super.sort(files);
        const last = (f: TestSpecification) => USE_THE_OBJECT_STORE.test(f.moduleId);
        return [...sorted.filter((f) => !last(f)), ...sorted.filter(last)];
    }
}

export default defineConfig({
    test: {
        include: ["tests/integration/**/*.test.ts"],
        // Each file drives real `pulumi up`s against one Docker engine: one at a time.
        fileParallelism: false,
        testTimeout: 20 * 60_000,
        hookTimeout: 20 * 60_000,
        sequence: { sequencer: ObjectStoreLast },
    },
});

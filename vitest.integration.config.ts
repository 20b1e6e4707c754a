import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The files, longest first (minutes each took in a .ci/run here that ran them one after the
 * other, on 2 cores): with several run at once, the long ones start first and the short
 * ones fill in at the end, so that no file starts alone near the end. backup.test comes
 * first though it needs the test object store (SeaweedFS), whose first build runs in the
 * background on a machine without it (scripts/test.sh): its 'volume' tests, about a third
 * of it, need no store, and its 's3' ones wait for the build if it is not done.
 * object-store.test starts once a long file ends. A file missing here runs after these, in
 * vitest's order.
 */
const LONGEST_FIRST = [
    "backup", // 19
    "endpoints", // 13
    "repository-host", // 10
    "hosts", // 9
    "object-store", // 9
    "upgrade", // 7
    "drift", // 6
    "switchover", // 5
    "many-changes", // 4
    "upgrade-hosts", // 4
    "topology", // 3
    "tls", // 2.5
    "newcomer", // 2
    "upgrade-image", // 1.5
    "foundation", // 1
    "versions", // 1
    "readiness", // 0.2
];

class LongestFirst extends BaseSequencer {
    override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
        const sorted = await super.sort(files);
        const rank = (f: TestSpecification) => {
            const name = /([^/]+)\.test\.ts$/.exec(f.moduleId)?.[1] ?? "";
            const i = LONGEST_FIRST.indexOf(name);
            return i === -1 ? LONGEST_FIRST.length : i;
        };
        // Array.prototype.sort is stable: files of the same rank keep vitest's order.
        return sorted.sort((a, b) => rank(a) - rank(b));
    }
}

/**
 * How many files run at once (PGTOPO_TEST_WORKERS, default 2; 1: one after the other). Each
 * file drives real `pulumi up`s of stacks of its own (random names, free ports), and those
 * that make test hosts or an object store give them a group, a name and a network of their
 * own. On 2 cores, two at once did about 1.7 files' work in the time of one; three at once
 * no more than two (the cores were busy all the time), each file slower.
 */
const workers = Number(process.env.PGTOPO_TEST_WORKERS ?? 2);

export default defineConfig({
    test: {
        include: ["tests/integration/**/*.test.ts"],
        fileParallelism: workers > 1,
        maxWorkers: workers,
        minWorkers: 1,
        testTimeout: 20 * 60_000,
        hookTimeout: 20 * 60_000,
        sequence: { sequencer: LongestFirst },
    },
});

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { PROJECT_DIR } from "./stack";

const execFileAsync = promisify(execFile);

/** Runs `npm run status`'s script for a stack; its exit code is part of its contract. */
export async function status(stackName: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
    try {
        const { stdout } = await execFileAsync(
            "node",
            ["--require", "tsx/cjs", "scripts/status.ts", "--stack", stackName, ...args],
            { cwd: PROJECT_DIR },
        );
        return { code: 0, stdout };
    } catch (err) {
        const e = err as { code: number; stdout: string };
        return { code: e.code, stdout: e.stdout };
    }
}

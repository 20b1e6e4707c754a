import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docker } from "../support/docker";
import { query } from "../support/postgres";
import { freePorts, PROJECT_DIR, TestStack } from "../support/stack";

const run = promisify(execFile);

/**
 * Issue 23, its first piece: the image a major upgrade runs in (images/upgrade), with
 * bookworm's PostgreSQL 15 beside trixie's 17, made here through apt like the node images.
 * Run on the volume of a real pgtopo 15 primary: pg_upgrade's check refuses what it must
 * (a user table of a type whose format changed in 16) and passes once that is gone; the
 * link-mode upgrade keeps every row, and pgtopo's settings and pg_hba carry over. The
 * upgrade by config (one `up`) builds on this; it is not here yet.
 */
const IMAGE = "pgtopo/upgrade:15-17";

describe("the upgrade image: PostgreSQL 15 and 17 side by side", () => {
    let stack: TestStack;
    let url: string;

    beforeAll(async () => {
        await run("bash", ["scripts/upgrade-image.sh", "15", "17"], { cwd: PROJECT_DIR, timeout: 900_000 });
        const [port] = await freePorts(1);
        stack = await TestStack.create("upg");
        await stack.configure({ primary: "pg-1", nodes: [{ name: "pg-1", port }] });
        await stack.up();
        url = (await stack.connectionStrings())["pg-1"];
    });

    afterAll(async () => {
        if (stack) await stack.dispose();
    });

    /** Runs a script as postgres in the upgrade image, on pg-1's volume (its server stopped). */
    const onVolume = (script: string) =>
        docker(
            "run", "--rm", "--network", "none", "-u", "postgres", "-w", "/tmp",
            "-v", `pgtopo-${stack.name}-pg-1-data:/var/lib/postgresql/data`,
            IMAGE, "bash", "-c", `set -e; old=/var/lib/postgresql/data/pgdata; new=$old.17; ${script}`,
        ); // prettier-ignore
    const check = `"$NEW_BINDIR/pg_upgrade" --check -b "$OLD_BINDIR" -B "$NEW_BINDIR" -d "$old" -D "$new" -U postgres -s /tmp`;

    it("has both majors' binaries, from bookworm's and trixie's archives", async () => {
        const versions = await docker("run", "--rm", IMAGE, "bash", "-c", '"$OLD_BINDIR/postgres" --version; "$NEW_BINDIR/postgres" --version'); // prettier-ignore
        expect(versions).toMatch(/^postgres \(PostgreSQL\) 15\.\d+ \(Debian 15\.\d+-\d+\+deb12u\d+\)$/m);
        expect(versions).toMatch(/^postgres \(PostgreSQL\) 17\.\d+ \(Debian 17\.\d+-\d+\+deb13u\d+\)$/m);
    });

    it("npm run upgrade-check runs pg_upgrade's check against the running primary: a refusal that names the column, then a pass; nothing stopped", async () => {
        const upgradeCheck = (...args: string[]) =>
            run("bash", ["scripts/upgrade-check.sh", ...args], {
                cwd: PROJECT_DIR,
                env: { ...process.env, PGTOPO_STACK: stack.name },
            }).then(
                ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
                (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }), // prettier-ignore
            );
        const startedAt = () => docker("inspect", "--format", "{{.State.StartedAt}}", stack.container("pg-1"));
        const started = await startedAt();
        await query(url, "CREATE TABLE grants (id int, a aclitem)");

        const refused = await upgradeCheck();
        expect(refused.code, refused.out).toBe(1);
        expect(refused.out).toContain('Checking for incompatible "aclitem" data type');
        expect(refused.out).toMatch(/public\.grants\.a/);
        expect(refused.out).toContain(
            "pg_upgrade --check refuses this cluster (above); nothing was stopped or changed",
        );
        expect(refused.out).not.toContain(decodeURIComponent(new URL(url).password));

        await query(url, "DROP TABLE grants");
        const passed = await upgradeCheck("--to", "17");
        expect(passed.code, passed.out).toBe(0);
        expect(passed.out).toContain("PostgreSQL 15 -> 17: pg_upgrade --check passed, with the server running");
        // The primary ran throughout: the same start, and it takes writes.
        expect(await startedAt()).toBe(started);
        await query(url, "CREATE TABLE after_check (id int)");

        const downgrade = await upgradeCheck("--to", "14");
        expect(downgrade.code).toBe(2);
        expect(downgrade.out).toContain('--to: "14" is not a later major than 15, which stack');
    });

    it("checks, refusing a table whose type changed format, then upgrades a pgtopo 15 volume in link mode with every row", async () => {
        await query(url, "CREATE TABLE ids AS SELECT generate_series(1, 5000) AS id");
        await query(url, "CREATE TABLE acl (a aclitem)");
        await docker("stop", stack.container("pg-1"));

        // The new cluster made as pgtopo-init makes the old one (checksums, C.UTF-8).
        const initdb = `"$NEW_BINDIR/initdb" -D "$new" --data-checksums --username=postgres --encoding=UTF8 --locale=C.UTF-8 --auth-local=peer --auth-host=scram-sha-256 >/dev/null`; // prettier-ignore
        await onVolume(`rm -rf "$new"; ${initdb}`);
        const refused = await onVolume(`${check} || echo "exit $?"`);
        expect(refused).toContain('Checking for incompatible "aclitem" data type');
        expect(refused).toMatch(/exit 1$/m);

        await docker("start", stack.container("pg-1"));
        await stack.up(); // waits for it to be ready again
        await query(url, "DROP TABLE acl");
        await docker("stop", stack.container("pg-1"));
        expect(await onVolume(check)).toContain("*Clusters are compatible*");

        // Link mode: the new cluster's files are the old one's; the old cannot start again.
        const upgraded = await onVolume(`
            "$NEW_BINDIR/pg_upgrade" --link -b "$OLD_BINDIR" -B "$NEW_BINDIR" -d "$old" -D "$new" -U postgres -s /tmp >/dev/null
            cp "$old/pgtopo.conf" "$old/pg_hba.conf" "$new/"
            echo "include_if_exists = 'pgtopo.conf'" >>"$new/postgresql.conf"
            "$NEW_BINDIR/pg_ctl" -D "$new" -o "-k /tmp -c listen_addresses=''" -w start >/dev/null
            psql -h /tmp -U postgres -tAc "SELECT count(*), current_setting('server_version_num'), current_setting('wal_log_hints'), current_setting('data_checksums') FROM ids" postgres
            "$NEW_BINDIR/pg_ctl" -D "$new" -w stop >/dev/null
            ls "$old/global"`);
        expect(upgraded).toMatch(/^5000\|17\d{4}\|on\|on$/m);
        expect(upgraded).toMatch(/^pg_control\.old$/m);
    });
});

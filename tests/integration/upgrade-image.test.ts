import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docker } from "../support/docker";
import { query } from "../support/postgres";
import { freePorts, pair, PROJECT_DIR, TestStack } from "../support/stack";

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

/**
 * Issue 23, the standbys: PostgreSQL's documented procedure brings a standby to the new
 * major without a new base backup (rsync --hard-links of the primary's old and new
 * directories onto the standby's volume). The steps (images/upgrade/bin/pgtopo-upgrade)
 * run here on the volumes of a real pgtopo 1 + 1 on 15; both upgraded servers are then
 * started in the upgrade image, and the standby streams from the primary again.
 */
describe("the upgrade steps on a primary and its standby's volumes", () => {
    let stack: TestStack;
    let urls: Record<string, string>;

    beforeAll(async () => {
        await run("bash", ["scripts/upgrade-image.sh", "15", "17"], { cwd: PROJECT_DIR, timeout: 900_000 });
        stack = await TestStack.create("upgs");
        await stack.configure({ primary: "pg-1", nodes: pair(await freePorts(2)) });
        await stack.up();
        urls = await stack.connectionStrings();
    });

    afterAll(async () => {
        if (stack) await stack.dispose();
    });

    it("upgrades the primary in link mode and the standby by rsync, which copies what pg_upgrade wrote anew and no table data; the standby then streams", async () => {
        await query(urls["pg-1"], "CREATE TABLE ids AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 200000) g"); // prettier-ignore
        await query(urls["pg-1"], "CREATE INDEX ON ids (id)");
        const [{ bytes, table }] = await query<{ bytes: string; table: string }>(urls["pg-1"], "SELECT pg_database_size('postgres')::text AS bytes, pg_relation_filepath('ids') AS table"); // prettier-ignore
        // The primary first, then its standby, which has then replayed the shutdown checkpoint.
        await docker("stop", stack.container("pg-1"));
        await docker("stop", stack.container("pg-2"));

        const password =
            (await docker("inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", stack.container("pg-2"))) // prettier-ignore
                .split("\n")
                .find((e) => e.startsWith("PGTOPO_REPLICATION_PASSWORD="))!
                .slice("PGTOPO_REPLICATION_PASSWORD=".length);
        const steps = `set -e
            pgtopo-upgrade check-stopped /p /s
            pgtopo-upgrade primary /p
            pgtopo-upgrade standby /p /s
            # What pg_upgrade wrote anew (not linked): all that the standby may need copied.
            echo "written anew: $(find /p/pgdata.new -type f -links 1 -printf '%s\\n' | awk '{ n += $1 } END { print n }')"
            pgtopo-upgrade switch /p
            pgtopo-upgrade switch /s
            # The table's file on the standby is its old one, linked, not a copy.
            [ /s/pgdata/${table} -ef /s/pgdata.old/${table} ] && echo "standby table file: linked"
            as() { setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/tmp "$@"; }
            mkdir -p /tmp/p /tmp/s && chown postgres /tmp/p /tmp/s
            as "$NEW_BINDIR/pg_ctl" -D /p/pgdata -o "-k /tmp/p -p 5432 -c listen_addresses=127.0.0.1" -w start >/dev/null
            as psql -h /tmp/p -U postgres -qc "SELECT pg_create_physical_replication_slot('pgtopo_pg_2')" postgres >/dev/null
            as "$NEW_BINDIR/pg_ctl" -D /s/pgdata -o "-k /tmp/s -p 5433 -c listen_addresses=127.0.0.1" -o "-c primary_conninfo='host=127.0.0.1 port=5432 user=replicator password=$PGTOPO_REPLICATION_PASSWORD application_name=pg-2'" -w start >/dev/null
            as psql -h /tmp/p -U postgres -qc "INSERT INTO ids VALUES (200001, 'after')" postgres
            for i in $(seq 1 100); do
                [ "$(as psql -h /tmp/s -p 5433 -U postgres -tAc "SELECT count(*) FROM ids WHERE id = 200001" postgres)" = 1 ] && break
                sleep 0.2
            done
            echo "standby: $(as psql -h /tmp/s -p 5433 -U postgres -tAc "SELECT count(*), current_setting('server_version_num'), pg_is_in_recovery() FROM ids" postgres)"
            echo "receiver: $(as psql -h /tmp/s -p 5433 -U postgres -tAc "SELECT status || '/' || slot_name FROM pg_stat_wal_receiver" postgres)"
            as "$NEW_BINDIR/pg_ctl" -D /s/pgdata -w stop >/dev/null
            as "$NEW_BINDIR/pg_ctl" -D /p/pgdata -w stop >/dev/null`;
        // The password forwarded by name, never on a command line.
        const { stdout: out } = await run(
            "docker",
            [
                "run", "--rm", "--network", "none", "-e", "PGTOPO_REPLICATION_PASSWORD",
                "-v", `pgtopo-${stack.name}-pg-1-data:/p`, "-v", `pgtopo-${stack.name}-pg-2-data:/s`,
                IMAGE, "bash", "-c", steps,
            ],
            { env: { ...process.env, PGTOPO_REPLICATION_PASSWORD: password }, timeout: 300_000 },
        ); // prettier-ignore
        expect(out).toContain("every server stopped cleanly, each standby at the primary's last checkpoint");
        expect(out).toContain("standby at /s brought to PostgreSQL 17 without a base backup");
        expect(out).toMatch(/^standby: 200001\|17\d{4}\|t$/m);
        expect(out).toMatch(/^receiver: streaming\/pgtopo_pg_2$/m);
        expect(out).toMatch(/^standby table file: linked$/m);
        const copied = Number(/copied to the standby at \S+: ([\d,]+) bytes/.exec(out)![1].replace(/,/g, ""));
        const writtenAnew = Number(/^written anew: (\d+)$/m.exec(out)![1]);
        console.log(`[figures] standby brought to 17 by rsync: ${copied} bytes copied (the new cluster's own files: ${writtenAnew} bytes) for a ${bytes}-byte database`); // prettier-ignore
        // What pg_upgrade wrote anew travels (catalogs, new WAL), no table data: beyond it,
        // only the old directory's few small files that a standby keeps differently (free
        // space maps, its control file), under 1 % of the database.
        expect(copied - writtenAnew).toBeLessThan(0.01 * Number(bytes));
    });
});

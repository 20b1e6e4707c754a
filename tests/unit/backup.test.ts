import { describe, expect, it } from "vitest";
import { ConfigError, parseClusterConfig } from "../../config";
import { restoreProblems, type RepositorySource, type RestoreProbe } from "../../preflight/restore";
import {
    archiveSettings,
    backupEnvironment,
    repositoryAway,
    repositorySecrets,
    unreadableRepository,
} from "../../planning/backup";
import { assessBackups } from "../../planning/backup-health";
import { restoreEnvironment, restoreTarget, segmentEnd, targetProblem } from "../../planning/restore";

const nodes = [{ name: "pg-1", port: 15432 }];
const problemsOf = (raw: Record<string, unknown>): string[] => {
    try {
        parseClusterConfig({ primary: "pg-1", nodes, ...raw });
        return [];
    } catch (err) {
        return (err as ConfigError).problems as string[];
    }
};

describe("pgtopo:backup and pgtopo:restore in the config", () => {
    it("turns backups on with defaults from {}", () => {
        expect(parseClusterConfig({ primary: "pg-1", nodes, backup: {} }).backup).toEqual({
            retention: { full: 2 },
            schedule: "0 3 * * *",
            deleteBackupsOnDestroy: false,
            standbysFrom: "upstream",
        });
    });

    it.each([
        [
            "a schedule that is not a cron expression",
            { backup: { schedule: "every night" } },
            'pgtopo:backup.schedule: "every night" is not allowed; it must be a cron expression of five fields, such as "0 3 * * *" (daily at 03:00)',
        ],
        [
            "a schedule with an out-of-range field",
            { backup: { schedule: "61 3 * * *" } },
            'pgtopo:backup.schedule: "61 3 * * *" is not allowed; it must be a cron expression of five fields, such as "0 3 * * *" (daily at 03:00)',
        ],
        [
            "a retention below 1",
            { backup: { retention: { full: 0 } } },
            "pgtopo:backup.retention.full: 0 is not allowed; it must be a whole number of full backups to keep, at least 1",
        ],
        [
            "standbys cloned from anything but the upstream or the repository",
            { backup: { standbysFrom: "s3" } },
            'pgtopo:backup.standbysFrom: "s3" is not allowed; it must be "upstream" (pg_basebackup) or "repository" (pgBackRest restore)',
        ],
        [
            "a restore target that is neither a time, an LSN nor latest",
            { restore: { fromStack: "prod", target: "yesterday" } },
            'pgtopo:restore.target: "yesterday" is not allowed; it must be "latest", an ISO 8601 time with its zone (such as "2026-11-22T08:00:00Z"), or an LSN (such as "0/3000060")',
        ],
        [
            "a restore target time without its zone",
            { restore: { fromStack: "prod", target: "2026-11-22T08:00:00" } },
            'pgtopo:restore.target: "2026-11-22T08:00:00" is not allowed; it must be "latest", an ISO 8601 time with its zone (such as "2026-11-22T08:00:00Z"), or an LSN (such as "0/3000060")',
        ],
    ])("refuses %s", (_, raw, message) => {
        expect(problemsOf(raw)).toEqual([message]);
    });

    it("gives pgBackRest its settings through the environment, and makes every node archive when primary", () => {
        const backup = parseClusterConfig({ primary: "pg-1", nodes, backup: { retention: { full: 3 } } }).backup!;
        expect(backupEnvironment(backup, "dev")).toMatchObject({
            PGBACKREST_STANZA: "pgtopo",
            PGBACKREST_REPO1_PATH: "/var/lib/pgbackrest",
            PGBACKREST_REPO1_RETENTION_FULL: "3",
        });
        expect(archiveSettings(backup)).toEqual({
            archive_mode: "on",
            archive_command: "pgbackrest archive-push %p",
            restore_command: 'pgbackrest archive-get %f "%p"',
        });
        expect(archiveSettings(undefined)).toEqual({});
    });
});

describe("pgtopo:backup.s3: the repository in an object store", () => {
    const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    const s3 = { endpoint: "10.0.0.9:8333", bucket: "pg-backups", accessKey: "AKID", secretKey: "s3cr3t-key" };

    it("fills in the defaults: region, a prefix per stack, path-style addressing, the system CAs", () => {
        expect(parseClusterConfig({ primary: "pg-1", nodes, backup: { s3 } }).backup!.s3).toEqual({
            ...s3,
            region: "us-east-1",
            prefix: "/pgtopo",
            uriStyle: "path",
        });
    });

    it("gives pgBackRest the bucket through the environment, the stack's own prefix, TLS verified, the keys apart", () => {
        const backup = parseClusterConfig({
            primary: "pg-1",
            nodes,
            backup: { s3: { ...s3, prefix: "/team/pg/", ca: CA } },
        }).backup!;
        const env = backupEnvironment(backup, "prod");
        expect(env).toMatchObject({
            PGBACKREST_STANZA: "pgtopo",
            PGBACKREST_REPO1_TYPE: "s3",
            PGBACKREST_REPO1_PATH: "/team/pg/prod",
            PGBACKREST_REPO1_S3_ENDPOINT: "10.0.0.9",
            PGBACKREST_REPO1_STORAGE_PORT: "8333",
            PGBACKREST_REPO1_S3_BUCKET: "pg-backups",
            PGBACKREST_REPO1_S3_REGION: "us-east-1",
            PGBACKREST_REPO1_S3_URI_STYLE: "path",
            PGBACKREST_REPO1_STORAGE_VERIFY_TLS: "y",
            PGBACKREST_REPO1_STORAGE_CA_FILE: "/etc/pgtopo/repository-ca.crt",
            PGTOPO_REPOSITORY_CA: Buffer.from(CA).toString("base64"),
        });
        expect(archiveSettings(backup).restore_command).toBe('pgbackrest --io-timeout=5 archive-get %f "%p"');
        expect(JSON.stringify(env)).not.toContain("s3cr3t-key");
        expect(JSON.stringify(env)).not.toContain("AKID");
        expect(repositorySecrets(backup)).toEqual({
            PGBACKREST_REPO1_S3_KEY: "AKID",
            PGBACKREST_REPO1_S3_KEY_SECRET: "s3cr3t-key",
        });
        expect(
            backupEnvironment({ ...backup, s3: { ...backup.s3!, endpoint: "s3.example.com" } }, "prod"),
        ).toMatchObject({ PGBACKREST_REPO1_S3_ENDPOINT: "s3.example.com", PGBACKREST_REPO1_STORAGE_PORT: "443" });
    });

    it.each([
        [
            "an endpoint with a scheme",
            { ...s3, endpoint: "https://s3.example.com" },
            `pgtopo:backup.s3.endpoint: "https://s3.example.com" is not allowed; it must be host or host:port of the object store's HTTPS endpoint, such as s3.eu-west-1.amazonaws.com or 10.0.0.9:8333 (no scheme: TLS is always on)`,
        ],
        [
            "a bucket name S3 refuses",
            { ...s3, bucket: "PG_Backups" },
            'pgtopo:backup.s3.bucket: "PG_Backups" is not allowed; it must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit',
        ],
        [
            "a prefix that climbs out",
            { ...s3, prefix: "/a/../b" },
            'pgtopo:backup.s3.prefix: "/a/../b" is not allowed; it must be a path such as "/pgtopo": a slash, then letters, digits, ".", "_", "-" and "/", without ".."',
        ],
        [
            "an addressing style S3 does not have",
            { ...s3, uriStyle: "virtual" },
            'pgtopo:backup.s3.uriStyle: "virtual" is not allowed; it must be "path" or "host"',
        ],
        [
            "a CA that is not PEM",
            { ...s3, ca: "/etc/ssl/ca.crt" },
            `pgtopo:backup.s3.ca: "/etc/ssl/ca.crt" is not allowed; it must be PEM text of the CA certificate(s) the endpoint's certificate is checked against`,
        ],
        [
            "an unknown key",
            { ...s3, verifyTls: false },
            'pgtopo:backup.s3: unknown key "verifyTls"; allowed keys are endpoint, bucket, region, prefix, uriStyle, ca, accessKey, secretKey',
        ],
    ])("refuses %s, naming the field", (_, bad, message) => {
        expect(problemsOf({ backup: { s3: bad } })).toEqual([message]);
    });

    it("names a missing or empty key without echoing what was written", () => {
        const problems = problemsOf({ backup: { s3: { ...s3, accessKey: undefined, secretKey: "" } } });
        expect(problems).toEqual([
            "pgtopo:backup.s3.accessKey must be the access key id, set as a secret",
            "pgtopo:backup.s3.secretKey must be the secret access key, set as a secret",
        ]);
    });
});

describe("an object store that does not answer", () => {
    it("is read from pgBackRest's status 99, in the repository entry's own words", () => {
        const said = "[HostConnectError] unable to connect to '10.0.0.9:8333'";
        expect(unreadableRepository({ status: { code: 99, message: "other" }, repo: [{ status: { code: 99, message: said } }] })).toBe(said); // prettier-ignore
        expect(unreadableRepository({ status: { code: 99, message: "other" } })).toBe("other");
        expect(unreadableRepository({ status: { code: 2, message: "no valid backups" } })).toBeUndefined();
        expect(unreadableRepository(undefined)).toBeUndefined();
    });

    const s3 = { endpoint: "10.0.0.9:8333", bucket: "pg-backups", accessKey: "AKID", secretKey: "s3cr3t-key" };
    const backupOf = (standbysFrom: string) =>
        parseClusterConfig({ primary: "pg-1", nodes, backup: { s3, standbysFrom } }).backup!;

    it("refuses, before anything changes, a new standby that is to be restored from it", () => {
        const away = repositoryAway(backupOf("repository"), "[HostConnectError] timeout", ["pg-3"]);
        expect(away.problems).toEqual([
            "pgtopo:backup.s3: the object store https://10.0.0.9:8333/pg-backups does not answer ([HostConnectError] timeout); new standby pg-3 is to be restored from it (standbysFrom: repository): bring the store back, or set standbysFrom: upstream",
        ]);
    });

    it("names the repository host, and its host across hosts, when that is what does not answer", () => {
        const backup = parseClusterConfig({ primary: "pg-1", nodes, backup: { repositoryHost: {}, standbysFrom: "repository" } }).backup!; // prettier-ignore
        const away = repositoryAway(backup, "[HostConnectError] refused", ["pg-3"], { container: "pgtopo-prod-repository", host: "db3" }); // prettier-ignore
        expect(away.problems).toEqual([
            "pgtopo:backup.repositoryHost: the repository host (pgtopo-prod-repository on host db3) does not answer ([HostConnectError] refused); new standby pg-3 is to be restored from it (standbysFrom: repository): bring the repository host back, or set standbysFrom: upstream",
        ]);
        expect(away.warning).toMatch(/^pgtopo:backup\.repositoryHost: the repository host \(pgtopo-prod-repository on host db3\) does not answer .*; WAL that cannot be archived is kept in pg_wal until it is back/); // prettier-ignore
    });

    it("lets anything else go on, saying what happens to the WAL meanwhile", () => {
        const away = repositoryAway(backupOf("upstream"), "[HostConnectError] timeout", ["pg-3"]);
        expect(away.problems).toEqual([]);
        expect(away.warning).toBe(
            "pgtopo:backup.s3: the object store https://10.0.0.9:8333/pg-backups does not answer ([HostConnectError] timeout); WAL that cannot be archived is kept in pg_wal until it is back, and backups fail meanwhile",
        );
    });
});

describe("asynchronous archiving", () => {
    const s3 = { endpoint: "10.0.0.9:8333", bucket: "pg-backups", accessKey: "AKID", secretKey: "s3cr3t-key" };
    const envOf = (backup: Record<string, unknown>) =>
        backupEnvironment(parseClusterConfig({ primary: "pg-1", nodes, backup }).backup!, "qa");

    it("is off unless the config asks for it, with a spool in each node's volume", () => {
        expect(envOf({ s3, archiveAsync: true })).toMatchObject({
            PGBACKREST_ARCHIVE_ASYNC: "y",
            PGBACKREST_SPOOL_PATH: "/var/lib/postgresql/data/pgbackrest-spool",
        });
        expect(envOf({})).not.toHaveProperty("PGBACKREST_ARCHIVE_ASYNC");
        expect(envOf({ s3 })).not.toHaveProperty("PGBACKREST_ARCHIVE_ASYNC");
        expect(envOf({ archiveAsync: true })).toMatchObject({ PGBACKREST_ARCHIVE_ASYNC: "y" });
    });

    it("refuses what is not a boolean, naming the field", () => {
        expect(() => parseClusterConfig({ primary: "pg-1", nodes, backup: { archiveAsync: "yes" } })).toThrow(
            'pgtopo:backup.archiveAsync: "yes" is not allowed; it must be true or false',
        );
    });
});

describe("restore targets", () => {
    const window = {
        from: { time: new Date("2026-11-22T08:00:00Z"), lsn: "0/5000100" },
        to: { time: new Date("2026-11-22T09:00:00Z"), lsn: "0/9000000" },
    };

    it("reads latest, an LSN and a time, and hands pgBackRest a time it reads", () => {
        expect(restoreTarget("latest")).toEqual({ type: "latest" });
        expect(restoreTarget("0/7a0")).toEqual({ type: "lsn", lsn: "0/7A0" });
        expect(restoreEnvironment({ fromStack: "prod", target: "2026-11-22T10:30:00+02:00" })).toEqual({
            PGTOPO_RESTORE_TYPE: "time",
            PGTOPO_RESTORE_TARGET: "2026-11-22 08:30:00.000+00",
        });
    });

    it("finds where a WAL segment ends", () => {
        expect(segmentEnd("000000010000000000000008")).toBe("0/9000000");
        expect(segmentEnd("0000000200000001000000FF")).toBe("2/0");
    });

    it("accepts a target inside the window, and names the window when it is outside", () => {
        expect(targetProblem(restoreTarget("2026-11-22T08:30:00Z"), window, "prod")).toBeUndefined();
        expect(targetProblem(restoreTarget("latest"), window, "prod")).toBeUndefined();
        expect(targetProblem(restoreTarget("2026-11-22T07:00:00Z"), window, "prod")).toBe(
            'pgtopo:restore.target: "2026-11-22T07:00:00.000Z" is outside what can be restored: stack prod\'s backups reach from 2026-11-22T08:00:00.000Z (0/5000100) to 2026-11-22T09:00:00.000Z (0/9000000, its last archived WAL)',
        );
        expect(targetProblem(restoreTarget("0/A000000"), window, "prod")).toMatch(
            /^pgtopo:restore\.target: "0\/A000000" is outside what can be restored: stack prod's backups reach from/,
        );
    });
});

describe("restoreProblems", () => {
    const probe = (volumes: string[], window?: Awaited<ReturnType<RestoreProbe["readRepository"]>>): RestoreProbe => ({
        volumeExists: async (name) => volumes.includes(name),
        stacksWithBackups: async () => volumes.filter((v) => v.endsWith("-backups")).map((v) => v.split("-")[1]),
        readRepository: async () => window,
    });
    const config = (target = "latest") =>
        parseClusterConfig({ primary: "pg-1", nodes, restore: { fromStack: "prod", target } });

    it("refuses a restore from the stack itself", async () => {
        const self = parseClusterConfig({ primary: "pg-1", nodes, restore: { fromStack: "qa" } });
        expect(await restoreProblems("qa", self, probe([]))).toEqual([
            'pgtopo:restore.fromStack: "qa" is this stack itself; allowed: another stack with backups on',
        ]);
    });

    it("refuses a stack with no repository, naming those that have one", async () => {
        expect(await restoreProblems("qa", config(), probe(["pgtopo-dev-backups"]))).toEqual([
            'pgtopo:restore.fromStack: "prod" has no backup repository (no volume pgtopo-prod-backups); allowed: "dev"',
        ]);
    });

    it("refuses a repository without a backup, and a target outside its window", async () => {
        expect(await restoreProblems("qa", config(), probe(["pgtopo-prod-backups"], "no backup"))).toEqual([
            "pgtopo:restore.fromStack: \"prod\" has no backup yet; take one with 'npm run backup' on that stack",
        ]);
        const window = {
            from: { time: new Date("2026-11-22T08:00:00Z"), lsn: "0/5000100" },
            to: { time: new Date("2026-11-22T09:00:00Z"), lsn: "0/9000000" },
        };
        const [problem] = await restoreProblems(
            "qa",
            config("2026-11-22T10:00:00Z"),
            probe(["pgtopo-prod-backups"], window),
        );
        expect(problem).toMatch(/^pgtopo:restore\.target: "2026-11-22T10:00:00\.000Z" is outside what can be restored/);
    });

    it("reads the source's prefix in the object store this stack backs up into, with the keys in the environment only", async () => {
        const s3 = { endpoint: "10.0.0.9:8333", bucket: "pg-backups", accessKey: "AKID", secretKey: "s3cr3t-key" };
        const s3Config = (target = "latest") =>
            parseClusterConfig({ primary: "pg-1", nodes, backup: { s3 }, restore: { fromStack: "prod", target } });
        const asked: RepositorySource[] = [];
        const answering = (window: Awaited<ReturnType<RestoreProbe["readRepository"]>>): RestoreProbe => ({
            ...probe([]),
            readRepository: async (source) => (asked.push(source), window),
        });
        expect(await restoreProblems("qa", s3Config(), answering("no backup"))).toEqual([
            "pgtopo:restore.fromStack: \"prod\" has no backup yet in https://10.0.0.9:8333/pg-backups/pgtopo/prod; take one with 'npm run backup' on that stack",
        ]);
        expect(asked[0]).toMatchObject({
            kind: "s3",
            environment: {
                PGBACKREST_REPO1_TYPE: "s3",
                PGBACKREST_REPO1_PATH: "/pgtopo/prod",
                PGBACKREST_REPO1_S3_KEY: "AKID",
                PGBACKREST_REPO1_S3_KEY_SECRET: "s3cr3t-key",
            },
        });
        expect(await restoreProblems("qa", s3Config(), answering(new Error("HostConnectError: timeout")))).toEqual([
            'pgtopo:restore.fromStack: "prod": its repository (https://10.0.0.9:8333/pg-backups/pgtopo/prod) cannot be read: HostConnectError: timeout',
        ]);
    });

    it("with pgtopo:hosts, asks the primary's host: whether its data is there, and the store from there", async () => {
        const s3 = { endpoint: "10.0.0.9:8333", bucket: "pg-backups", accessKey: "AKID", secretKey: "s3cr3t-key" };
        const onHosts = parseClusterConfig({
            primary: "pg-2",
            hosts: { db1: { docker: "ssh://a@db1", address: "10.0.0.11" }, db2: { docker: "ssh://a@db2", address: "10.0.0.12" } }, // prettier-ignore
            nodes: [
                { name: "pg-1", port: 15432, host: "db1" },
                { name: "pg-2", port: 15432, host: "db2" },
            ],
            backup: { s3 },
            restore: { fromStack: "prod" },
        });
        const volumesAsked: [string, string | undefined][] = [];
        const readsAsked: (string | undefined)[] = [];
        const hosted: RestoreProbe = {
            volumeExists: async (name, engine) => (volumesAsked.push([name, engine]), false),
            stacksWithBackups: async () => [],
            readRepository: async (_source, _image, engine) => (readsAsked.push(engine), "no backup"),
        };
        await restoreProblems("qa", onHosts, hosted);
        expect(volumesAsked).toEqual([["pgtopo-qa-pg-2-data", "ssh://a@db2"]]);
        expect(readsAsked).toEqual(["ssh://a@db2"]);
    });

    it("checks nothing once the stack's primary has its data (the restore is done)", async () => {
        expect(await restoreProblems("qa", config("1999-01-01T00:00:00Z"), probe(["pgtopo-qa-pg-1-data"]))).toEqual([]);
    });
});

describe("the backup part of the status", () => {
    const now = new Date("2026-11-22T12:00:00Z");
    const seen = {
        status: "ok",
        backups: [
            { label: "20261122-080000F", type: "full", stop: new Date("2026-11-22T08:00:05Z") },
            { label: "20261122-080000F_20261122-110000D", type: "diff", stop: new Date("2026-11-22T11:00:04Z") },
        ],
        archivedUpTo: "000000020000000000000012",
        lastArchived: new Date("2026-11-22T11:58:00Z"),
    };

    it("names the last backups with their age, the archive and the recoverable window", () => {
        expect(assessBackups("pg-1", seen, now)).toEqual({
            lines: [
                "last full backup: 20261122-080000F, 4 h ago",
                "last diff backup: 20261122-080000F_20261122-110000D, 1 h ago",
                "WAL archived up to 000000020000000000000012 (pg-1 archived its last 2 min ago)",
                "recoverable: from 2026-11-22T08:00:05.000Z to 2026-11-22T11:58:00.000Z",
            ],
            differences: [],
        });
    });

    it("calls failing archiving and a repository without a full backup differences", () => {
        const failing = {
            ...seen,
            lastFailure: { wal: "000000020000000000000013", at: new Date("2026-11-22T11:59:00Z") },
        };
        expect(assessBackups("pg-1", failing, now).differences).toEqual([
            "archiving fails on pg-1: 000000020000000000000013 could not be archived (last try 2026-11-22T11:59:00.000Z)",
        ]);
        // A failure followed by a success is over.
        const recovered = { ...failing, lastArchived: new Date("2026-11-22T11:59:30Z") };
        expect(assessBackups("pg-1", recovered, now).differences).toEqual([]);
        expect(assessBackups("pg-1", { status: "ok", backups: [] }, now).differences).toEqual([
            "backups are on but the repository holds no full backup; take one with 'npm run backup'",
        ]);
    });

    it("names a repository that cannot be read, and claims nothing about what it holds", () => {
        const away = {
            status: "could not be read: HostConnectError: unable to connect to '10.0.0.9:8333'",
            unreadable: "HostConnectError: unable to connect to '10.0.0.9:8333'",
            repository: "https://10.0.0.9:8333/pg-backups/pgtopo/prod",
            backups: [],
        };
        expect(assessBackups("pg-1", away, now)).toEqual({
            lines: [],
            differences: [
                "the backup repository (https://10.0.0.9:8333/pg-backups/pgtopo/prod) cannot be read: HostConnectError: unable to connect to '10.0.0.9:8333'",
            ],
        });
    });
});

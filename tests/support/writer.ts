import { Client } from "pg";

/**
 * A client that keeps inserting rows one commit at a time into whichever node accepts
 * writes, and records every id whose COMMIT returned. After a switchover every recorded
 * id must be on the new primary and on every standby: that is "no committed write lost".
 * Bounded: it stops by itself after `maxSeconds` even if nobody calls stop().
 */
export class RecordingWriter {
    readonly committed: number[] = [];
    /** Longest time between two commits: the write-unavailability window seen by a client. */
    maxGapMs = 0;
    private running = true;
    private done?: Promise<void>;

    constructor(
        private readonly urls: Record<string, string>,
        private readonly table: string,
        private readonly maxSeconds = 300,
        /** Where this writer's ids start, so that writers taking turns on one table never collide. */
        private readonly firstId = 1,
    ) {}

    start(): this {
        this.done = this.loop();
        return this;
    }

    async stop(): Promise<void> {
        this.running = false;
        await this.done;
    }

    private async connectToWritable(): Promise<Client | undefined> {
        for (const url of Object.values(this.urls)) {
            const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
            // A fenced primary ends idle connections too; the next query notices and reconnects.
            client.on("error", () => undefined);
            try {
                await client.connect();
                const { rows } = await client.query("SELECT pg_is_in_recovery() AS r");
                if (!rows[0].r) return client;
            } catch {
                // not up, or not reachable: try the next one
            }
            await client.end().catch(() => undefined);
        }
        return undefined;
    }

    private async loop(): Promise<void> {
        const deadline = Date.now() + this.maxSeconds * 1000;
        let next = this.firstId;
        let last = Date.now();
        let client: Client | undefined;
        while (this.running && Date.now() < deadline) {
            client ??= await this.connectToWritable();
            if (!client) {
                await new Promise((r) => setTimeout(r, 50));
                continue;
            }
            try {
                await client.query(`INSERT INTO ${this.table} (id) VALUES ($1)`, [next]);
                this.committed.push(next);
                const now = Date.now();
                this.maxGapMs = Math.max(this.maxGapMs, now - last);
                last = now;
            } catch (err) {
                // A commit whose reply was lost may have happened after all: then the id
                // exists already. It was never recorded, so it proves nothing either way.
                if ((err as { code?: string }).code === "23505") next++;
                await client.end().catch(() => undefined);
                client = undefined;
            }
            // A row is retried under the same id only if its commit did not return.
            if (this.committed.at(-1) === next) next++;
            await new Promise((r) => setTimeout(r, 10));
        }
        await client?.end().catch(() => undefined);
    }
}

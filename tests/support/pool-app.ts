import { Pool } from "pg";

/** One transaction as the application saw it: when it began and how long until its COMMIT returned. */
export interface Transaction {
    readonly startedAt: number;
    readonly ms: number;
}

/**
 * An application as issue 21 pictures it: a node-postgres Pool of `size` connections to one
 * URL (a router's rw), with as many workers each inserting rows one transaction at a time,
 * recording every id whose COMMIT returned (and how long it took) and every error any query
 * raised. It never retries: a client that notices a switchover shows up in `errors`.
 * Bounded: it stops by itself after `maxSeconds`.
 */
export class PoolApplication {
    readonly acknowledged: number[] = [];
    readonly transactions: Transaction[] = [];
    readonly errors: { readonly at: number; readonly message: string }[] = [];
    private pool: Pool;
    private running = true;
    private done?: Promise<void>;
    private nextId: number;

    constructor(
        url: string,
        private readonly table: string,
        private readonly size = 16,
        firstId = 1,
        private readonly maxSeconds = 900,
    ) {
        this.nextId = firstId;
        this.pool = this.open(url);
    }

    /** Longest time any one transaction took, from BEGIN to the COMMIT's reply: the stall a client saw. */
    get longestMs(): number {
        return this.transactions.reduce((max, t) => Math.max(max, t.ms), 0);
    }

    start(): this {
        const deadline = Date.now() + this.maxSeconds * 1000;
        this.done = Promise.all(Array.from({ length: this.size }, () => this.worker(deadline))).then(() => undefined);
        return this;
    }

    /**
     * Today's way without a router: the application is told the new primary's address and
     * opens a new pool to it (the old one's connections are closed as they come back).
     */
    retarget(url: string): void {
        const old = this.pool;
        this.pool = this.open(url);
        void old.end().catch(() => undefined);
    }

    /** Stops the workers, waits for their last transactions, closes the pool. */
    async stop(): Promise<void> {
        this.running = false;
        await this.done;
        await this.pool.end();
    }

    private open(url: string): Pool {
        const pool = new Pool({ connectionString: url, max: this.size, connectionTimeoutMillis: 60_000 });
        // An idle connection that breaks is an error the application would see too.
        pool.on("error", (err) => this.errors.push({ at: Date.now(), message: `idle connection: ${err.message}` }));
        return pool;
    }

    private async worker(deadline: number): Promise<void> {
        while (this.running && Date.now() < deadline) {
            const id = this.nextId++;
            const startedAt = Date.now();
            const started = performance.now();
            try {
                const client = await this.pool.connect();
                let broken: Error | undefined;
                // An error the server sends between two queries (a FATAL when its server
                // connection crashed) comes as an event on the checked-out client.
                const onError = (err: Error) => {
                    broken = err;
                    this.errors.push({ at: Date.now(), message: `id ${id}, between queries: ${err.message}` });
                };
                client.on("error", onError);
                try {
                    // Two statements in one transaction: the router must keep both on one server.
                    await client.query("BEGIN");
                    await client.query(`INSERT INTO ${this.table} (id) VALUES ($1)`, [id]);
                    await client.query("COMMIT");
                } catch (err) {
                    broken = err as Error;
                    throw err;
                } finally {
                    client.off("error", onError);
                    // A connection that failed is closed, not given to the next transaction.
                    client.release(broken);
                }
                this.acknowledged.push(id);
                this.transactions.push({ startedAt, ms: performance.now() - started });
            } catch (err) {
                this.errors.push({ at: Date.now(), message: `id ${id}: ${(err as Error).message}` });
                // As an application would, rather than spin on a server that is gone.
                await new Promise((r) => setTimeout(r, 50));
            }
            await new Promise((r) => setTimeout(r, 5));
        }
    }
}

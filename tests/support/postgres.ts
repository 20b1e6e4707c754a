import { Client } from "pg";

/** Runs one query on a fresh connection; the tests care about results, not pooling. */
export async function query<T extends Record<string, unknown> = Record<string, unknown>>(
    connectionString: string,
    sql: string,
    params: unknown[] = [],
): Promise<T[]> {
    const client = new Client({ connectionString, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
        return (await client.query<T>(sql, params)).rows;
    } finally {
        await client.end();
    }
}

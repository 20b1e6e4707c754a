import Table from "cli-table3";

/** min / median / max of a series, the figures every bench prints. */
export function summarize(values: readonly number[]): { min: number; median: number; max: number } {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    return { min: sorted[0], median, max: sorted[sorted.length - 1] };
}

/** Nearest-rank percentile (p in 0..100) of a series; NaN for an empty one. */
export function percentile(values: readonly number[], p: number): number {
    if (values.length === 0) return NaN;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface Row {
    readonly label: string;
    readonly unit: string;
    readonly values: readonly number[];
    /** Decimals shown; default 0 for ms and B, 1 otherwise. */
    readonly decimals?: number;
    /** The baseline row this one is compared with (ratio of medians). */
    readonly baseline?: Row;
}

export function printTable(title: string, rows: readonly Row[]): void {
    const table = new Table({
        head: ["measure", "runs", "min", "median", "max", "vs baseline"],
        style: { head: [], border: [] },
    });
    const baselines = new Set(rows.map((r) => r.baseline).filter((b) => b !== undefined));
    for (const row of rows) {
        const s = summarize(row.values);
        const base = row.baseline ? summarize(row.baseline.values).median : undefined;
        // A ratio against a zero baseline says nothing: the absolute figures do.
        const ratio =
            base === undefined
                ? baselines.has(row)
                    ? "baseline"
                    : "-"
                : base === 0
                  ? "n/a (baseline 0)"
                  : `${(s.median / base).toFixed(2)}x`;
        const decimals = row.decimals ?? (row.unit === "ms" || row.unit === "B" ? 0 : 1);
        const f = (v: number) => `${v.toFixed(decimals)} ${row.unit}`;
        table.push([row.label, row.values.length, f(s.min), f(s.median), f(s.max), ratio]);
    }
    console.log(`\n${title}\n${table.toString()}`);
}

/** How long a piece of work takes, in seconds. */
export async function seconds(work: () => Promise<unknown>): Promise<number> {
    const started = performance.now();
    await work();
    return (performance.now() - started) / 1000;
}

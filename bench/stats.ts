import Table from "cli-table3";

/** min / median / max of a series, the figures every bench prints. */
export function summarize(values: readonly number[]): { min: number; median: number; max: number } {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    return { min: sorted[0], median, max: sorted[sorted.length - 1] };
}

export interface Row {
    readonly label: string;
    readonly unit: string;
    readonly values: readonly number[];
    /** The baseline row this one is compared with (ratio of medians). */
    readonly baseline?: Row;
}

export function printTable(title: string, rows: readonly Row[]): void {
    const table = new Table({
        head: ["measure", "runs", "min", "median", "max", "vs baseline"],
        style: { head: [], border: [] },
    });
    for (const row of rows) {
        const s = summarize(row.values);
        const ratio = row.baseline ? (s.median / summarize(row.baseline.values).median).toFixed(2) + "x" : "baseline";
        const f = (v: number) => `${v.toFixed(row.unit === "ms" ? 0 : 1)} ${row.unit}`;
        table.push([row.label, row.values.length, f(s.min), f(s.median), f(s.max), ratio]);
    }
    console.log(`\n${title}\n${table.toString()}`);
}

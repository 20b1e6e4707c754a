/** A PostgreSQL LSN ("16/B374D848") as a byte position, for lag arithmetic. */
export function lsnToBytes(lsn: string): bigint {
    const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
    if (!match) throw new Error(`not an LSN: ${JSON.stringify(lsn)}`);
    return (BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`);
}

/** How many bytes `behind` is behind `ahead` (0 when it is not behind). */
export function lagBytes(ahead: string, behind: string): number {
    const diff = lsnToBytes(ahead) - lsnToBytes(behind);
    return diff > 0n ? Number(diff) : 0;
}

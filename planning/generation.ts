/**
 * The generation label of a node's container, which makes Pulumi recreate a container
 * that was removed behind its back, on a plain `pulumi up`. Pulumi's state still holds
 * such a container, and only a refresh would tell it otherwise; a changed label replaces
 * it instead. The label must also stay the same when nothing happened, or every `up`
 * would replace every container: so it is read back from the container itself.
 *
 * - container present: its own label (none on containers made before labels existed);
 * - container gone, volume kept: a new generation, named after now (it is recreated on it);
 * - neither: a new node; no label.
 */
export function containerGeneration(
    found: { readonly container: boolean; readonly label?: string; readonly volume: boolean },
    now: Date,
): string | undefined {
    if (found.container) return found.label;
    if (found.volume) return `recreated-${now.toISOString().replace(/[-:]|\.\d+/g, "")}`;
    return undefined;
}

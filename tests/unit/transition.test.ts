import { describe, expect, it } from "vitest";
import type { NodeObservation } from "../../planning/observation";
import { describeTransition, planTransition } from "../../planning/transition";
import { observed, observedStopped } from "../support/observations";

const node = (name: string, change: Partial<NodeObservation> = {}) =>
    observed(name, { inRecovery: true, walLsn: "0/5000000", ...change });
const primary = (name: string, lsn = "0/5000000") => node(name, { inRecovery: false, walLsn: lsn });
const lost = (name: string) => observedStopped(name, { walLsn: "0/5000000" });
const options = { maxLagOnFailover: 1024 * 1024 };

describe("planTransition", () => {
    it("does nothing when the configured primary is the only writer", () => {
        expect(planTransition("a", [primary("a"), node("b")], options)).toEqual({
            kind: "none",
            primary: "a",
            fence: [],
        });
    });

    it("fences a second writer next to the configured primary", () => {
        expect(planTransition("a", [primary("a"), primary("b")], options)).toEqual({
            kind: "none",
            primary: "a",
            fence: ["b"],
        });
    });

    it("brings a stopped node back as a standby when nothing else is to move", () => {
        const t = planTransition("a", [primary("a"), lost("b"), node("c")], options);
        expect(t).toEqual({ kind: "none", primary: "a", fence: ["b"] });
        expect(describeTransition(t)).toBe("a stays primary; b will be fenced if running and (re)started as standbys");
    });

    it("plans a switchover when the old primary answers", () => {
        const t = planTransition("b", [primary("a"), node("b"), node("c")], options);
        expect(t).toEqual({ kind: "switchover", from: "a", to: "b", fence: ["a"] });
        expect(describeTransition(t)).toMatch(/^switchover: a will be fenced \(stopped cleanly\), b promoted/);
    });

    it("plans a failover when no node accepts writes, fencing the lost one", () => {
        const t = planTransition("b", [lost("a"), node("b"), node("c")], options);
        expect(t).toEqual({ kind: "failover", to: "b", fence: ["a"] });
        expect(describeTransition(t)).toBe(
            "failover: no node accepts writes; b will be promoted, a fenced and rejoined as a standby " +
                "(rewound if needed; re-cloned, with the old data kept aside, if it cannot be rewound); " +
                "standbys whose upstream changes are re-pointed without a re-clone",
        );
    });

    it("refuses a failover to a standby far behind another, saying how far and how to override", () => {
        const t = planTransition(
            "b",
            [lost("a"), node("b", { walLsn: "0/1000000" }), node("c", { walLsn: "0/5000000" })],
            options,
        );
        expect(t).toEqual({
            kind: "refused",
            reason:
                'pgtopo:primary: "b" is 67108864 bytes behind "c"; promoting it would lose the transactions only "c" has. ' +
                'Name "c" as primary, or set pgtopo:maxLagOnFailover to at least 67108864 to promote "b" anyway (now 1048576)',
        });
    });

    it("promotes a lagging standby when the bound allows it", () => {
        const t = planTransition(
            "b",
            [lost("a"), node("b", { walLsn: "0/1000000" }), node("c", { walLsn: "0/5000000" })],
            { maxLagOnFailover: 100 * 1024 * 1024 },
        );
        expect(t).toEqual({ kind: "failover", to: "b", fence: ["a", "c"] });
    });

    it("refuses to promote a node that does not answer", () => {
        expect(planTransition("b", [primary("a"), lost("b")], options)).toEqual({
            kind: "refused",
            reason: 'pgtopo:primary: "b" cannot be promoted: it does not answer (container stopped); name a node that runs',
        });
    });

    it("finishes an interrupted switchover: old primary fenced, target not yet promoted", () => {
        expect(planTransition("b", [lost("a"), node("b"), node("c")], options).kind).toBe("failover");
    });
});

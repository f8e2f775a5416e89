// Adversarial miners in the pure swarm (fake compute): each kind is caught by CLASP, by a spot
// check or by the merge cross-check, is paid (almost) nothing, and no honest miner is flagged; the
// validator's every decision re-derives from the log.
import { describe, expect, it } from "vitest";
import { auditDecisions } from "../../../src/machines/orchestrator/index.js";
import { auditScorer } from "../../../src/machines/scorer/index.js";
import { ADVERSARY_KINDS, type AdversaryKind, simulate } from "../../../src/machines/sim/index.js";
import { scoredSwarm, VALIDATOR } from "./support.js";

/** Each miner's share of all the payouts of a run and of the last window's, and the miners ever flagged (with reasons). */
const outcome = (log: ReturnType<typeof simulate>["log"]) => {
  const share: Record<string, number> = {};
  let last: Record<string, number> = {};
  let windows = 0;
  const flagged = new Map<string, Set<string>>();
  for (const f of log) {
    if (f.actor !== VALIDATOR) continue;
    if (f.type === "WeightsProposed") {
      windows += 1;
      last = {};
      for (const e of f.payload.entries) {
        share[e.hotkey] = (share[e.hotkey] ?? 0) + e.share;
        last[e.hotkey] = e.share;
      }
    }
    if (f.type === "MinerFlagged") flagged.set(f.payload.miner, (flagged.get(f.payload.miner) ?? new Set()).add(f.payload.reason));
  }
  for (const k of Object.keys(share)) share[k] = (share[k] as number) / Math.max(1, windows);
  return { share, last, flagged, windows };
};

describe("adversarial miners in the pure swarm", () => {
  it("pays honest miners and flags none of them", () => {
    for (const seed of [1, 2, 3]) {
      const r = simulate(scoredSwarm(seed));
      expect(r.state.done).toBe(true);
      const o = outcome(r.log);
      expect(o.windows).toBe(2);
      expect([...o.flagged.keys()]).toEqual([]);
      expect(Object.values(o.share).filter((x) => x > 0).length).toBe(12);
      expect(auditScorer(r.log, VALIDATOR).findings).toEqual([]);
    }
  });

  const expected: Record<AdversaryKind, readonly string[]> = {
    noise: ["harmful", "outlier", "spot-check"],
    scaled: ["harmful", "outlier", "spot-check"],
    stale: ["harmful", "outlier"],
    freerider: ["harmful", "outlier", "spot-check"],
    // Kicked for its wrong reduction, it no longer opens the weights its earlier work used.
    "lazy-reducer": ["wrong-reduction", "spot-check"],
    colluding: ["spot-check", "wrong-reduction"],
  };

  it.each([...ADVERSARY_KINDS])("catches a %s miner over several seeds and pays it (almost) nothing", (kind) => {
    for (const seed of [1, 2, 3]) {
      // Miner i joins stage i mod 3: m03 and m06 share stage 0, so they reduce partitions together.
      const bad: Record<string, AdversaryKind> = kind === "colluding" ? { m03: kind, m06: kind } : { m05: kind };
      const r = simulate(scoredSwarm(seed, bad));
      expect(r.state.done).toBe(true);
      const o = outcome(r.log);
      for (const m of Object.keys(bad)) {
        const reasons = [...(o.flagged.get(m) ?? [])];
        expect(reasons.length, `${kind} ${m} seed ${seed}`).toBeGreaterThan(0);
        for (const x of reasons) expect(expected[kind]).toContain(x);
        // By the end it is paid nothing; a stale miner looks honest until the others have trained.
        expect(o.last[m] ?? 0).toBeLessThanOrEqual(0.01);
        if (kind !== "stale") expect(o.share[m] ?? 0).toBeLessThanOrEqual(0.01);
      }
      const honestFlagged = [...o.flagged.keys()].filter((m) => !(m in bad));
      expect(honestFlagged, `${kind} seed ${seed}`).toEqual([]);
      expect(auditDecisions(r.log)).toEqual([]);
      expect(auditScorer(r.log, VALIDATOR).findings).toEqual([]);
    }
  });
  it("keeps a miner caught cheating flagged and unpaid in every later window it serves in", () => {
    let carried = 0;
    for (const seed of [1, 2, 3]) {
      const r = simulate(scoredSwarm(seed, { m03: "colluding", m06: "colluding" }));
      const mine = r.log.filter((f) => f.actor === VALIDATOR);
      for (const m of ["m03", "m06"]) {
        const flags = mine.filter((f) => f.type === "MinerFlagged" && f.payload.miner === m);
        const first = flags[0]?.type === "MinerFlagged" ? flags[0].payload.window : undefined;
        expect(first, `${m} seed ${seed}`).toBeDefined();
        for (const f of mine) {
          if (f.type !== "ContributionScored" || f.payload.miner !== m || f.payload.window <= (first as number)) continue;
          const again = flags.find((x) => x.type === "MinerFlagged" && x.payload.window === f.payload.window);
          expect(again?.type === "MinerFlagged" && again.payload.detail, `${m} window ${f.payload.window}`).toMatch(/^(caught in window \d+: |reduce check)/);
          const paid = mine.find((x) => x.type === "WeightsProposed" && x.payload.window === f.payload.window);
          expect(paid?.type === "WeightsProposed" && paid.payload.entries.find((e) => e.hotkey === m)?.share).toBe(0);
          carried += 1;
        }
      }
      expect(auditScorer(r.log, VALIDATOR).findings).toEqual([]);
    }
    expect(carried).toBeGreaterThan(0);
  });
});

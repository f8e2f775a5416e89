import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SwarmFact } from "../../../src/events/swarm/index.js";
import { auditDecisions, fold, initialState } from "../../../src/machines/orchestrator/index.js";
import { simulate } from "../../../src/machines/sim/index.js";
import { miners, simOptions } from "../support.js";

const strip = (log: readonly SwarmFact[]) => log.map((f) => ({ ...f, cause: f.actor === "orchestrator" ? f.cause.slice(1) : f.cause }));
const runs = { numRuns: 12 };

describe("swarm properties", () => {
  it("replays: the same options give the same log, and folding the log gives the orchestrator's state", () => {
    fc.assert(fc.property(fc.string({ maxLength: 8 }), (seed) => {
      const o = simOptions({ maxTicks: 120 }, { totalMicrobatches: 16 });
      const opts = { ...o, config: { ...o.config, seed } };
      const a = simulate(opts), b = simulate(opts);
      expect(JSON.stringify(b.log)).toBe(JSON.stringify(a.log));
      expect(fold(a.log, initialState())).toEqual(a.state);
    }), { numRuns: 4 });
  });

  it("ignores redelivered facts: folding a log with duplicates gives the same state", () => {
    const { log } = simulate(simOptions({ maxTicks: 200 }, { totalMicrobatches: 20 }));
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(log.length - 1), fc.nat(log.length - 1)), { maxLength: 60 }), (dups) => {
      // Redeliver log[min] again right after log[max]: a duplicate always follows its original.
      // (Indices are positions in the original log, so earlier insertions cannot shift them.)
      const after = new Map<number, SwarmFact[]>();
      for (const [from, to] of dups) after.set(Math.max(from, to), [...(after.get(Math.max(from, to)) ?? []), log[Math.min(from, to)] as SwarmFact]);
      const noisy: SwarmFact[] = log.flatMap((f, i) => [f, ...(after.get(i) ?? [])]);
      expect(fold(noisy, initialState())).toEqual(fold(log, initialState()));
    }), runs);
  });

  it("resumes after an orchestrator crash at any tick and any point of a batch with the same decisions", () => {
    const base = simOptions({ maxTicks: 150 }, { totalMicrobatches: 16 });
    const clean = simulate(base);
    fc.assert(fc.property(fc.integer({ min: 1, max: Math.max(1, clean.ticks) }), fc.nat(4), (tick, after) => {
      const crashed = simulate({ ...base, crashes: [{ tick, after }] });
      expect(strip(crashed.log)).toEqual(strip(clean.log));
      expect(auditDecisions(crashed.log)).toEqual([]);
    }), runs);
  });

  it("loses no microbatch and counts none twice under random deaths and rejoins, with merges paused or overlapped", () => {
    fc.assert(fc.property(fc.string({ maxLength: 6 }), fc.double({ min: 0, max: 0.04, noNaN: true }), fc.integer({ min: 2, max: 12 }), fc.boolean(), (seed, dropout, rejoinAfter, overlapMerges) => {
      const o = simOptions({ miners: miners(7).map((m) => ({ ...m, rejoinAfter })), dropout, maxTicks: 600 }, { totalMicrobatches: 24, overlapMerges });
      const r = simulate({ ...o, config: { ...o.config, seed } });
      const s = r.schedule;
      expect(s.violations).toEqual([]);
      expect(s.issued).toBe(s.completed + s.open + s.waiting);
      expect(r.state.counters.completed).toBe(s.completed);
      expect(r.state.counters.reissued).toBe(s.reissued);
      expect(r.state.done).toBe(true);
      expect(s.completed).toBe(24);
      expect(auditDecisions(r.log)).toEqual([]);
    }), { numRuns: 10 });
  });

  it("keeps leasing while a stage merges only when merges overlap training", () => {
    const leasesDuringMerges = (overlapMerges: boolean): number => {
      const { log } = simulate(simOptions({ maxTicks: 400 }, { totalMicrobatches: 40, overlapMerges }));
      let merging = 0;
      let leased = 0;
      for (const f of log) {
        if (f.type === "MergeStarted" && f.payload.stage === 0) merging += 1;
        if (f.type === "MergeCompleted" && f.payload.stage === 0) merging -= 1;
        if (f.type === "MicrobatchLeased" && merging > 0) leased += 1;
      }
      expect(log.filter((f) => f.type === "MergeCompleted").length).toBeGreaterThan(0);
      return leased;
    };
    expect(leasesDuringMerges(false)).toBe(0);
    expect(leasesDuringMerges(true)).toBeGreaterThan(0);
  });
});

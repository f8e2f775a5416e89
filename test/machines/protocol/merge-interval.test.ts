import { describe, expect, it } from "vitest";
import { evolve, initialState, type OrchestratorState } from "../../../src/machines/orchestrator/index.js";
import { type LrSchedule, lrScheduleOf, MAX_MERGE_STRETCH, mergeInterval, scheduledLr } from "../../../src/machines/protocol/index.js";
import { simulate } from "../../../src/machines/sim/index.js";
import { simOptions } from "../support.js";

const lr: LrSchedule = { lr: 3e-3, warmup: 20, minLrRatio: 0.1, steps: 300, localWarmup: true, deferWhileInFlight: true };

describe("mergeInterval", () => {
  it("is mergeEvery when fixed, or when the run names no learning-rate schedule", () => {
    for (const step of [0, 19, 20, 150, 299, 400]) expect(mergeInterval({ mergeEvery: 6, mergeInterval: "fixed" }, lr, step)).toBe(6);
    expect(mergeInterval({ mergeEvery: 6, mergeInterval: "lr-scaled" }, undefined, 150)).toBe(6);
  });

  it("lr-scaled: mergeEvery at the peak rate, stretched by peak ÷ rate, never past the cap", () => {
    const at = (step: number) => mergeInterval({ mergeEvery: 6, mergeInterval: "lr-scaled" }, lr, step);
    expect(at(19)).toBe(6); // the last warmup step runs at the peak
    expect(at(20)).toBe(6);
    expect(at(160)).toBeCloseTo(6 / (scheduledLr(lr, 160) / lr.lr), 12);
    expect(at(160)).toBeGreaterThan(10); // half way down the cosine: ~0.55 of the peak
    expect(at(0)).toBe(6 * MAX_MERGE_STRETCH); // 1/20 of the peak: capped
    expect(at(299)).toBe(6 * MAX_MERGE_STRETCH); // the floor, 0.1 of the peak: capped
    for (let t = 20; t < 300; t++) expect(at(t + 1)).toBeGreaterThanOrEqual(at(t)); // longer as the rate decays
  });

  it("a zero rate merges at the cap rather than dividing by zero", () => {
    expect(mergeInterval({ mergeEvery: 6, mergeInterval: "lr-scaled" }, { ...lr, minLrRatio: 0 }, 300)).toBe(6 * MAX_MERGE_STRETCH);
  });
});

describe("the orchestrator's merge rule under lr-scaled intervals", () => {
  // A fake-compute swarm whose model names a schedule: 60 microbatches, a short warmup, cosine to 0.1.
  const run = (mergeInterval: "fixed" | "lr-scaled") => {
    const o = simOptions({}, { totalMicrobatches: 60, mergeEvery: 4, microbatchesPerStep: 1, mergeInterval });
    return simulate({ ...o, config: { ...o.config, model: { kind: "fake", optim: { lr: 1e-3, warmup: 4, minLrRatio: 0.1, steps: 60 } } } });
  };

  it("starts each merge once the stage's passes reach the interval at the run's step, and merges less often than fixed", () => {
    const scaled = run("lr-scaled");
    expect(scaled.state.done).toBe(true);
    const lr = lrScheduleOf(scaled.state.config);
    expect(lr).toBeDefined();
    let s: OrchestratorState = initialState();
    const waited: { passes: number; interval: number }[] = [];
    for (const f of scaled.log) {
      if (f.type === "MergeStarted") {
        const interval = mergeInterval(s.config!.schedule, lr, s.counters.completed);
        waited.push({ passes: s.stages[f.payload.stage]!.sinceMerge, interval });
      }
      s = evolve(s, f);
    }
    expect(waited.length).toBeGreaterThan(2);
    for (const w of waited) expect(w.passes).toBeGreaterThanOrEqual(w.interval);
    // Some merges waited for a stretched interval (mergeEvery is 4 here).
    expect(Math.max(...waited.map((w) => w.interval))).toBeGreaterThan(4);
    const fixed = run("fixed");
    const merges = (r: typeof scaled) => r.log.filter((f) => f.type === "MergeStarted").length;
    expect(merges(scaled)).toBeLessThan(merges(fixed));
  });
});

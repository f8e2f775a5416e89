// The sim's wall time by phase: each completed lease's path as ms from its lease, each stage merge.
import { describe, expect, it } from "vitest";
import type { SwarmFact } from "../../../src/events/swarm/index.js";
import { milestoneLabel, phaseLine, phaseTimer, quantile } from "../../../src/actors/swarm/phases.js";

const fact = (type: string, id: string, payload: Record<string, unknown>): SwarmFact => ({ type, id, payload }) as unknown as SwarmFact;

/** A 2-stage lease's facts at `t0` + the offsets given. */
const lease = (id: string, t0: number, d: { fwd: number; loss: number; grad: number; bwd1: number; bwd0: number; done: number }): [SwarmFact, number][] => [
  [fact("MicrobatchLeased", id, {}), t0],
  [fact("ActivationsForwarded", `${id}-a`, { lease: id, stage: 0 }), t0 + d.fwd],
  [fact("LossComputed", `${id}-l`, { lease: id }), t0 + d.loss],
  [fact("GradientsReturned", `${id}-g`, { lease: id, stage: 1 }), t0 + d.grad],
  [fact("BackwardCompleted", `${id}-b1`, { lease: id, stage: 1 }), t0 + d.bwd1],
  [fact("BackwardCompleted", `${id}-b0`, { lease: id, stage: 0 }), t0 + d.bwd0],
  [fact("MicrobatchCompleted", `${id}-c`, { lease: id }), t0 + d.done],
];

describe("phaseTimer", () => {
  it("times each completed lease's path from its lease, in order of the medians, and each merge from start to completion", () => {
    const t = phaseTimer();
    const observed: [SwarmFact, number][] = [
      ...lease("L1", 0, { fwd: 30, loss: 90, grad: 91, bwd1: 100, bwd0: 130, done: 133 }),
      ...lease("L2", 50, { fwd: 40, loss: 100, grad: 101, bwd1: 110, bwd0: 140, done: 144 }),
      // A fact delivered twice keeps its first arrival (L3's forward again, before its completion).
      ...lease("L3", 100, { fwd: 34, loss: 92, grad: 93, bwd1: 104, bwd0: 128, done: 131 }).flatMap((x, i) =>
        i === 2 ? [[fact("ActivationsForwarded", "L3-a", { lease: "L3", stage: 0 }), 190] as [SwarmFact, number], x] : [x]),
      // Not completed (reissued): not timed, its forward not counted.
      [fact("MicrobatchLeased", "L4", {}), 200], [fact("ActivationsForwarded", "L4-a", { lease: "L4", stage: 0 }), 900],
      // A fact of a completed lease delivered again: not a lease of its own, and L1 keeps its times.
      [fact("ActivationsForwarded", "L1-a", { lease: "L1", stage: 0 }), 5000],
      // An OptimizerStepped names leases but no single one: not a milestone.
      [fact("OptimizerStepped", "s", { leases: ["L1"], stage: 0 }), 10],
      [fact("MergeStarted", "M1", { stage: 0 }), 1000], [fact("MergeCompleted", "M1-c", { merge: "M1" }), 1085],
      [fact("MergeStarted", "M2", { stage: 1 }), 1100], [fact("MergeCompleted", "M2-c", { merge: "M2" }), 1200],
      // Abandoned: started, never completed.
      [fact("MergeStarted", "M3", { stage: 0 }), 1300],
    ];
    for (const [f, at] of observed) t.observe(f, at);
    const p = t.summary();
    expect(p.leases).toBe(3);
    expect(p.lease).toEqual([
      { name: "ActivationsForwarded0", medianMs: 34 },
      { name: "LossComputed", medianMs: 92 },
      { name: "GradientsReturned1", medianMs: 93 },
      { name: "BackwardCompleted1", medianMs: 104 },
      { name: "BackwardCompleted0", medianMs: 130 },
      { name: "MicrobatchCompleted", medianMs: 133 },
    ]);
    expect(p.merges).toBe(2);
    expect(p.mergeMedianMs).toBe(85);
    expect(p.mergeP90Ms).toBe(100);
    expect(phaseLine(p)).toBe("a lease forward 0 +34, loss +92, gradients from 1 +93, backward 1 +104, backward 0 +130, completed +133 (3 leases); a stage merge 85 (90th percentile 100; 2 merges)");
  });

  it("says so when nothing completed", () => {
    const p = phaseTimer().summary();
    expect(p).toMatchObject({ leases: 0, lease: [], merges: 0 });
    expect(phaseLine(p)).toBe("a lease (none completed); no stage merge completed");
  });

  it("labels milestones for people, and takes nearest-rank quantiles", () => {
    expect(["ActivationsForwarded2", "GradientsReturned1", "BackwardCompleted0", "LossComputed", "MicrobatchCompleted"].map(milestoneLabel))
      .toEqual(["forward 2", "gradients from 1", "backward 0", "loss", "completed"]);
    expect(quantile([5, 1, 3], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9);
    expect(Number.isNaN(quantile([], 0.5))).toBe(true);
  });
});

// The auditor's report: a validator's miner table read from the facts (microbatches served,
// contribution over the run, spot checks, flags, payout), and the first divergence of a run whose
// orchestrator or validator recorded something its decider would not have.
import { describe, expect, it } from "vitest";
import type { SwarmFact } from "../../../src/events/swarm/index.js";
import { auditRun, combineWindows, minerTable } from "../../../src/machines/scorer/report.js";
import { simulate } from "../../../src/machines/sim/index.js";
import { scoredSwarm, VALIDATOR } from "./support.js";

let seq = 0;
const fact = (actor: string, type: string, payload: object): SwarmFact => ({ id: `f${(seq += 1)}`, type, actor, seq, step: 0, cause: [], payload }) as unknown as SwarmFact;

describe("combineWindows", () => {
  it("is a window's own score for one window, and null for none", () => {
    expect(combineWindows([])).toBeNull();
    expect(combineWindows([{ window: 0, contribution: 0.2, lo: 0.1, hi: 0.4, samples: 10 }])).toEqual({ contribution: 0.2, ci: [0.1, expect.closeTo(0.4, 12)] });
  });

  it("weights windows by samples and narrows the interval as independent windows add up", () => {
    const w = { window: 0, contribution: 0.1, lo: 0, hi: 0.2, samples: 10 };
    const r = combineWindows([w, { ...w, window: 1, contribution: 0.4, lo: 0.3, hi: 0.5, samples: 30 }]);
    expect(r?.contribution).toBeCloseTo((10 * 0.1 + 30 * 0.4) / 40, 12);
    // Half-widths 0.1 and 0.1 with weights 10 and 30: √(1² + 3²)/40.
    expect((r?.ci[1] ?? 0) - (r?.contribution ?? 0)).toBeCloseTo(Math.sqrt(10) / 40, 12);
  });
});

describe("minerTable", () => {
  const log = [
    fact("o", "SwarmRunStarted", { orchestrator: "o" }),
    fact("o", "StageAssigned", { miner: "a", stage: 0 }),
    fact("o", "StageAssigned", { miner: "b", stage: 1 }),
    fact("o", "StageAssigned", { miner: "c", stage: 1 }),
    fact("o", "MicrobatchCompleted", { pathway: ["a", "b"] }),
    fact("o", "MicrobatchCompleted", { pathway: ["a", "b"] }),
    fact("o", "MicrobatchCompleted", { pathway: ["a", "c"] }),
    fact("x", "MicrobatchCompleted", { pathway: ["a", "c"] }), // not the orchestrator: not counted
    fact("v", "ContributionScored", { window: 0, miner: "c", stage: 1, contribution: -0.5, lo: -0.7, hi: -0.3, samples: 1 }),
    fact("v", "SpotCheckPassed", { window: 0, check: 0, miner: "a" }),
    fact("v", "SpotCheckFailed", { window: 0, check: 1, miner: "c" }),
    fact("v", "MinerFlagged", { window: 0, miner: "c", reason: "spot-check", detail: "forward check failed" }),
    fact("w", "MinerFlagged", { window: 0, miner: "a", reason: "harmful", detail: "another validator's" }),
    fact("v", "WeightsProposed", { window: 0, entries: [{ hotkey: "owner", uid: 0, share: 0, weight: 0 }, { hotkey: "a", uid: 1, share: 0.5, weight: 65535 }, { hotkey: "b", uid: 2, share: 0.5, weight: 65535 }, { hotkey: "c", uid: 3, share: 0, weight: 0 }] }),
    fact("v", "WeightsProposed", { window: 1, entries: [{ hotkey: "a", uid: 1, share: 0.25, weight: 21845 }, { hotkey: "b", uid: 2, share: 0.75, weight: 65535 }] }),
  ];

  it("counts microbatches served, spot checks, flags and payout per miner, as this validator recorded them", () => {
    const t = minerTable(log, "v");
    expect(t.windows).toBe(2);
    expect(Object.keys(t.miners)).toEqual(["a", "b", "c"]);
    expect(t.miners.a).toMatchObject({ stage: 0, microbatches: 3, contribution: null, ci: null, spotChecks: { passed: 1, failed: 0 }, flags: [], share: 0.375, weight: 21845 });
    expect(t.miners.b).toMatchObject({ stage: 1, microbatches: 2, share: 0.625, weight: 65535 });
    expect(t.miners.c).toMatchObject({ stage: 1, microbatches: 1, contribution: -0.5, spotChecks: { passed: 0, failed: 1 }, share: 0, weight: 0 });
    expect(t.miners.c?.flags).toEqual([{ window: 0, reason: "spot-check", detail: "forward check failed" }]);
  });

  it("leaves out a listed hotkey that is not a miner and is paid nothing (the owner's uid)", () => {
    expect(minerTable(log, "v").miners.owner).toBeUndefined();
  });
});

describe("auditRun", () => {
  const run = simulate(scoredSwarm(1, { m05: "noise" }));

  it("finds nothing to object to in an honest simulated run, and tables its validator's view", () => {
    const r = auditRun(run.log);
    expect(r.firstDivergence).toBeNull();
    expect(r.orchestrator).toMatchObject({ id: "orchestrator", findings: [] });
    expect(r.orchestrator.decisions).toBeGreaterThan(0);
    expect(r.schedule.violations).toEqual([]);
    expect(r.validators.map((v) => v.id)).toEqual([VALIDATOR]);
    const v = r.validators[0];
    expect(v?.findings).toEqual([]);
    expect(v?.windows).toBe(2);
    expect(v?.miners.m05?.flags.length).toBeGreaterThan(0);
    expect(v?.miners.m05?.share).toBeLessThanOrEqual(0.01);
    expect(Object.values(v?.miners ?? {}).reduce((t, m) => t + m.microbatches, 0)).toBe(3 * 120);
  });

  it("names the first orchestrator decision that does not re-derive", () => {
    const log = [...run.log];
    const i = log.findIndex((f, k) => k > 200 && f.type === "MicrobatchCompleted");
    const f = log[i] as Extract<SwarmFact, { type: "MicrobatchCompleted" }>;
    log[i] = { ...f, payload: { ...f.payload, loss: f.payload.loss + 1 } };
    expect(auditRun(log).firstDivergence).toMatchObject({ index: i, id: f.id, type: "MicrobatchCompleted", actor: "orchestrator", by: "orchestrator" });
  });

  it("names the first validator decision that does not re-derive", () => {
    const log = [...run.log];
    const i = log.findIndex((f) => f.type === "WeightsProposed");
    const f = log[i] as Extract<SwarmFact, { type: "WeightsProposed" }>;
    log[i] = { ...f, payload: { ...f.payload, entries: f.payload.entries.map((e) => ({ ...e, share: e.hotkey === "m05" ? 0.5 : e.share })) } };
    const r = auditRun(log);
    expect(r.orchestrator.findings).toEqual([]);
    expect(r.firstDivergence).toMatchObject({ index: i, id: f.id, type: "WeightsProposed", actor: VALIDATOR, by: "validator" });
    expect(r.firstDivergence?.reason).toMatch(/^expected WeightsProposed/);
  });
});

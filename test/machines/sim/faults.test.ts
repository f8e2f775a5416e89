import { describe, expect, it } from "vitest";
import { auditDecisions } from "../../../src/machines/orchestrator/index.js";
import { type SimOptions, simulate } from "../../../src/machines/sim/index.js";
import { miners, simOptions } from "../support.js";

// The fault matrix (hivemind style): each row injects one fault class; every row must keep the
// schedule invariants, replay under audit, and still finish the run.
const rows: [string, Partial<SimOptions>][] = [
  ["drops data messages", { faults: { drop: 0.1 } }],
  ["delays data messages", { faults: { delay: 0.3, maxDelay: 4 } }],
  ["duplicates deliveries", { faults: { duplicate: 0.3 } }],
  ["reorders data messages", { faults: { reorder: true, delay: 0.2 } }],
  ["kills a stage-0 miner mid-microbatch", { miners: miners(6).map((m) => (m.id === "m00" ? { ...m, killTick: 5 } : m)) }],
  ["kills a miner at tick 14 and lets it rejoin", { miners: miners(6).map((m) => (m.id === "m03" ? { ...m, killTick: 14, rejoinAfter: 8 } : m)) }],
  ["crashes the orchestrator mid-batch, twice", { crashes: [{ tick: 3, after: 1 }, { tick: 12, after: 0 }] }],
  ["joins a miner mid-run", { miners: [...miners(6), { id: "m99", capacity: 2, joinTick: 20 }] }],
  ["all of the above at once", {
    faults: { drop: 0.05, delay: 0.2, duplicate: 0.2, reorder: true },
    crashes: [{ tick: 9, after: 2 }],
    miners: [...miners(7).map((m) => (m.id === "m02" ? { ...m, killTick: 11, rejoinAfter: 5 } : m)), { id: "m99", capacity: 1, joinTick: 15 }],
  }],
];

describe("fault matrix", () => {
  it.each(rows)("survives when it %s", (_name, over) => {
    const r = simulate(simOptions({ maxTicks: 800, ...over }));
    expect(r.schedule.violations).toEqual([]);
    expect(auditDecisions(r.log)).toEqual([]);
    expect(r.state.done).toBe(true);
    expect(r.schedule.completed).toBe(40);
    expect(r.schedule.open + r.schedule.waiting).toBe(0);
    if ((over.faults?.drop ?? 0) > 0) expect(r.state.counters.reissued).toBeGreaterThan(0);
    // A killed miner is noticed: timed out, or re-registered by its restart before the timeout.
    const assigned = r.log.filter((f) => f.type === "StageAssigned").length;
    if (over.miners?.some((m) => m.killTick !== undefined) === true) expect(r.state.counters.timedOut + assigned - (over.miners?.length ?? 0)).toBeGreaterThan(0);
  });

  it("reissues the leases of a killed miner, which rejoins with the current weights", () => {
    const r = simulate(simOptions({ maxTicks: 800, miners: miners(6).map((m) => (m.id === "m00" ? { ...m, killTick: 5, rejoinAfter: 10 } : m)) }));
    expect(r.log.some((f) => f.type === "MinerTimedOut" && f.payload.miner === "m00")).toBe(true);
    expect(r.log.some((f) => f.type === "MicrobatchReissued" && f.payload.reason === "miner-lost" && f.payload.miner === "m00")).toBe(true);
    const joins = r.log.filter((f) => f.type === "StageAssigned" && f.payload.miner === "m00");
    expect(joins.length).toBe(2);
    const last = joins[1];
    const stage = last?.type === "StageAssigned" ? last.payload.stage : -1;
    const latest = r.log.filter((f, i) => f.type === "WeightsLoaded" && f.payload.stage === stage && i < r.log.indexOf(last!)).pop();
    expect(last?.type === "StageAssigned" && latest?.type === "WeightsLoaded" && last.payload.weights).toBe(latest?.type === "WeightsLoaded" ? latest.payload.ref : "");
  });

  it("flags and kicks a reducer that returns a wrong average, and accepts the honest result", () => {
    const r = simulate(simOptions({ maxTicks: 800, wrongReducers: ["m01"] }));
    const settled = r.log.filter((f) => f.type === "DisputeSettled");
    expect(settled.length).toBeGreaterThan(0);
    for (const f of settled) if (f.type === "DisputeSettled") expect(f.payload.flagged).toEqual(["m01"]);
    expect(r.log.some((f) => f.type === "MinerKicked" && f.payload.miner === "m01" && f.payload.reason === "wrong-reduction")).toBe(true);
    expect(r.state.done).toBe(true);
    expect(r.schedule.violations).toEqual([]);
  });
});

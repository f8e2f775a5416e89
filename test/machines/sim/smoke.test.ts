import { describe, expect, it } from "vitest";
import { auditDecisions } from "../../../src/machines/orchestrator/index.js";
import { simulate } from "../../../src/machines/sim/index.js";
import { simOptions } from "../support.js";

describe("swarm simulation", () => {
  it("trains every microbatch with merges and no faults", () => {
    const r = simulate(simOptions());
    const counts: Record<string, number> = {};
    for (const f of r.log) counts[f.type] = (counts[f.type] ?? 0) + 1;
    expect(counts.MicrobatchCompleted).toBe(40);
    expect(counts.MergeCompleted).toBeGreaterThan(3);
    expect(r.state.counters.partitionsSkipped).toBe(0);
    expect(counts.MicrobatchReissued ?? 0).toBe(0);
    expect(r.state.done).toBe(true);
    expect(r.schedule.violations).toEqual([]);
    expect(auditDecisions(r.log)).toEqual([]);
  });
});

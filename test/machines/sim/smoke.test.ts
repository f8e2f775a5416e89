import { describe, expect, it } from "vitest";
import { auditDecisions } from "../../../src/machines/orchestrator/index.js";
import { simulate } from "../../../src/machines/sim/index.js";
import { simOptions } from "../support.js";

describe("swarm simulation", () => {
  it("trains every microbatch with merges and no faults", () => {
    const r = simulate(simOptions());
    const counts: Record<string, number> = {};
    for (const f of r.log) counts[f.type] = (counts[f.type] ?? 0) + 1;
    console.log(r.ticks, JSON.stringify(counts), JSON.stringify(r.state.counters), JSON.stringify(r.schedule));
    expect(r.state.done).toBe(true);
    expect(r.schedule.violations).toEqual([]);
    expect(auditDecisions(r.log)).toEqual([]);
  });
});

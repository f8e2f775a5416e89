// The pure swarm with DiLoCo merges (config.outer): reducers agree byte for byte on the outer step,
// every miner of a stage leaves a merge with the same weights, and the log re-derives.
import { describe, expect, it } from "vitest";
import { auditDecisions } from "../../../src/machines/orchestrator/index.js";
import { unpackOuter } from "../../../src/machines/protocol/index.js";
import { fakeCompute, memoryBlobs, simulate, type ComputeModel } from "../../../src/machines/sim/index.js";
import { simOptions } from "../support.js";

const outer = { lr: 0.7, momentum: 0.9 };
const base = simOptions();
const withOuter = { ...base, config: { ...base.config, outer } };

/** fakeCompute, recording the weights ref each miner ends each merge with. */
const recording = () => {
  const blobs = memoryBlobs();
  const inner = fakeCompute({ seed: base.config.seed, params: base.config.params, tokensPerMicrobatch: base.config.schedule.tokensPerMicrobatch }, blobs);
  const after: Record<string, Set<string>> = {};
  const compute: ComputeModel = {
    ...inner,
    applyMerge: (m, p) => {
      const ref = inner.applyMerge(m, p);
      (after[p.merge] ??= new Set()).add(ref);
      return ref;
    },
  };
  return { compute, blobs, after };
};

describe("DiLoCo merges in the pure swarm", () => {
  it("accepts every partition with both reducers' hashes equal, and replays to the same decisions", () => {
    const r = simulate(withOuter);
    expect(r.state.done).toBe(true);
    expect(r.state.counters.mergesDone).toBeGreaterThan(3);
    expect(r.state.counters.partitionsSkipped).toBe(0);
    expect(r.state.counters.disputes).toBe(0);
    for (const f of r.log) if (f.type === "PartitionAccepted") expect(f.payload.reducers.length).toBeGreaterThanOrEqual(2);
    expect(auditDecisions(r.log)).toEqual([]);
    expect(simulate(withOuter).log).toEqual(r.log);
  });

  it("leaves every miner of the stage with identical weights after each merge", () => {
    const { compute, after } = recording();
    const r = simulate({ ...withOuter, compute });
    const merges = r.log.filter((f) => f.type === "MergeCompleted");
    expect(merges.length).toBeGreaterThan(3);
    for (const m of merges) expect(after[m.payload.merge]?.size).toBe(1);
  });

  it("carries the outer momentum from one merge of a partition to the next", () => {
    const { compute, blobs } = recording();
    const r = simulate({ ...withOuter, compute });
    const stage0 = r.log.filter((f) => f.type === "MergeCompleted" && f.payload.stage === 0);
    expect(stage0.length).toBeGreaterThan(1);
    const n = 10; // 40 parameters in 4 partitions
    const first = stage0[0];
    const second = stage0[1];
    if (first?.type !== "MergeCompleted" || second?.type !== "MergeCompleted") throw new Error("unreachable");
    const r1 = unpackOuter(blobs.get(first.payload.results[0] as string) as Float32Array, n);
    const r2 = unpackOuter(blobs.get(second.payload.results[0] as string) as Float32Array, n);
    expect(r1.momentum.some((x) => x !== 0)).toBe(true);
    // u2 = μ·u1 + Δ2 and θ2 = θ1 − lr·(Δ2 + μ·u2): the second merge stepped from the first's result.
    for (let i = 0; i < n; i++) {
      const d2 = (r2.momentum[i] as number) - outer.momentum * (r1.momentum[i] as number);
      const want = (r1.params[i] as number) - outer.lr * (d2 + outer.momentum * (r2.momentum[i] as number));
      expect(r2.params[i]).toBeCloseTo(want, 5);
    }
    const last = stage0[stage0.length - 1];
    expect(r.state.stages[0]?.results[0]).toBe(last?.type === "MergeCompleted" ? last.payload.results[0] : "");
  });

  it("differs from plain averaging only when the run says so", () => {
    const plain = simulate(base);
    const dil = simulate(withOuter);
    const hashes = (log: typeof plain.log) => log.filter((f) => f.type === "PartitionAccepted").map((f) => (f.type === "PartitionAccepted" ? f.payload.hash : ""));
    expect(hashes(plain.log)).not.toEqual(hashes(dil.log));
    expect(plain.log.find((f) => f.type === "SwarmRunStarted")?.payload).not.toHaveProperty("outer");
  });
});

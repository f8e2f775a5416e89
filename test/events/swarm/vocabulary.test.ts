import { Result } from "effect";
import { describe, expect, it } from "vitest";
import { EventRegistry } from "../../../src/events/registry.js";
import { ORCHESTRATOR_TYPES, type SwarmEventType, swarmEvents, swarmVersion } from "../../../src/events/swarm/index.js";

describe("swarm vocabulary", () => {
  const registry = new EventRegistry(swarmEvents);

  it("registers every fact once, PascalCase and past tense", () => {
    for (const d of swarmEvents) {
      expect(d.type).toMatch(/^[A-Z][A-Za-z]+(ed|Sent|Left|Out|Drawn)$/);
      const latest = d.type === "SwarmRunStarted" ? 6 : ["WeightsLoaded", "ActivationsForwarded", "LossComputed", "OptimizerStepped"].includes(d.type) ? 2 : 1;
      expect(registry.latestVersion(d.type)).toBe(latest);
      expect(swarmVersion(d.type as SwarmEventType)).toBe(latest);
    }
    for (const t of ORCHESTRATOR_TYPES) expect(registry.has(t)).toBe(true);
  });

  it("upcasts v1-v5 run starts to v6: no outer step unless given, merges pause training (before v3), proportional routing (before v4), fixed merge intervals (before v5), float32 snapshots", () => {
    const v1 = { run: "r", orchestrator: "o", seed: "1", model: {}, stages: [{ params: 4, weights: "w" }], schedule: {
      totalMicrobatches: 1, datasetBatches: 1, tokensPerMicrobatch: 1, maxInFlight: 1, leaseTicks: 1, heartbeatTimeoutTicks: 1, heartbeatEveryTicks: 1,
      mergeEvery: 1, bMin: 1, partitions: 1, mergeGatherTicks: 1, mergeDeadlineTicks: 1, microbatchesPerStep: 1 } };
    const r = registry.decode("SwarmRunStarted", 1, v1);
    expect(Result.isSuccess(r) && r.success.v).toBe(6);
    expect(Result.isSuccess(r) && (r.success.payload as { schedule: { snapshotCodec: string } }).schedule.snapshotCodec).toBe("f32");
    expect(Result.isSuccess(r) && (r.success.payload as { schedule: { mergeInterval: string } }).schedule.mergeInterval).toBe("fixed");
    expect(Result.isSuccess(r) && "outer" in (r.success.payload as object)).toBe(false);
    expect(Result.isSuccess(r) && (r.success.payload as { schedule: { routing: string } }).schedule.routing).toBe("proportional");
    expect(Result.isSuccess(r) && (r.success.payload as { schedule: { overlapMerges: boolean } }).schedule.overlapMerges).toBe(false);
    const v2 = registry.decode("SwarmRunStarted", 2, { ...v1, outer: { lr: 0.7, momentum: 0.9 } });
    expect(Result.isSuccess(v2) && (v2.success.payload as { outer?: unknown }).outer).toEqual({ lr: 0.7, momentum: 0.9 });
    expect(Result.isSuccess(v2) && (v2.success.payload as { schedule: { overlapMerges: boolean } }).schedule.overlapMerges).toBe(false);
    const v3 = registry.decode("SwarmRunStarted", 3, { ...v1, schedule: { ...v1.schedule, overlapMerges: true } });
    expect(Result.isSuccess(v3) && (v3.success.payload as { schedule: { overlapMerges: boolean } }).schedule.overlapMerges).toBe(true);
    expect(Result.isSuccess(v3) && (v3.success.payload as { schedule: { routing: string } }).schedule.routing).toBe("proportional");
    // v3 requires the flag: a v3 start without it is invalid, not silently paused.
    expect(Result.isFailure(registry.decode("SwarmRunStarted", 3, v1))).toBe(true);
    // v4 requires the routing, and only the two rules.
    const v4 = { ...v1, schedule: { ...v1.schedule, overlapMerges: true, routing: "least-loaded" } };
    expect(Result.isSuccess(registry.decode("SwarmRunStarted", 4, v4))).toBe(true);
    expect(Result.isFailure(registry.decode("SwarmRunStarted", 4, { ...v4, schedule: { ...v4.schedule, routing: "random" } }))).toBe(true);
    expect(Result.isFailure(registry.decode("SwarmRunStarted", 4, { ...v1, schedule: { ...v1.schedule, overlapMerges: true } }))).toBe(true);
    const up4 = registry.decode("SwarmRunStarted", 4, v4);
    expect(Result.isSuccess(up4) && (up4.success.payload as { schedule: { mergeInterval: string } }).schedule.mergeInterval).toBe("fixed");
    // v5 requires the merge interval, and only the two ways of counting it.
    const v5 = { ...v4, schedule: { ...v4.schedule, mergeInterval: "lr-scaled" } };
    const ok5 = registry.decode("SwarmRunStarted", 5, v5);
    expect(Result.isSuccess(ok5) && (ok5.success.payload as { schedule: { mergeInterval: string } }).schedule.mergeInterval).toBe("lr-scaled");
    expect(Result.isFailure(registry.decode("SwarmRunStarted", 5, { ...v5, schedule: { ...v5.schedule, mergeInterval: "adaptive" } }))).toBe(true);
    expect(Result.isFailure(registry.decode("SwarmRunStarted", 5, v4))).toBe(true);
    expect(Result.isSuccess(ok5) && (ok5.success.payload as { schedule: { snapshotCodec: string } }).schedule.snapshotCodec).toBe("f32");
    // v6 names the snapshot codec (absent: float32), and only the two.
    const v6 = { ...v5, schedule: { ...v5.schedule, snapshotCodec: "bf16" } };
    const ok6 = registry.decode("SwarmRunStarted", 6, v6);
    expect(Result.isSuccess(ok6) && (ok6.success.payload as { schedule: { snapshotCodec: string } }).schedule.snapshotCodec).toBe("bf16");
    expect(Result.isSuccess(registry.decode("SwarmRunStarted", 6, v5))).toBe(true);
    expect(Result.isFailure(registry.decode("SwarmRunStarted", 6, { ...v6, schedule: { ...v6.schedule, snapshotCodec: "fp8" } }))).toBe(true);
  });

  it("upcasts a v1 WeightsLoaded to v2 without an optimizer state, and keeps v2's", () => {
    const v1 = registry.decode("WeightsLoaded", 1, { stage: 1, epoch: 4, ref: "w" });
    expect(Result.isSuccess(v1) && v1.success).toEqual({ v: 2, payload: { stage: 1, epoch: 4, ref: "w" } });
    const v2 = registry.decode("WeightsLoaded", 2, { stage: 1, epoch: 4, ref: "w", optimizer: "o" });
    expect(Result.isSuccess(v2) && (v2.success.payload as { optimizer?: string }).optimizer).toBe("o");
  });

  it("upcasts v1 pipeline facts to v2 with what they did not record as null or empty", () => {
    const fwd = registry.decode("ActivationsForwarded", 1, { lease: "l", stage: 0, to: "b", ref: "r", bytes: 8, route: [] });
    expect(Result.isSuccess(fwd) && fwd.success).toEqual({ v: 2, payload: { lease: "l", stage: 0, to: "b", ref: "r", bytes: 8, route: [], weights: null } });
    const loss = registry.decode("LossComputed", 1, { lease: "l", loss: 2.5, tokens: 8 });
    expect(Result.isSuccess(loss) && loss.success).toEqual({ v: 2, payload: { lease: "l", loss: 2.5, tokens: 8, weights: null } });
    const step = registry.decode("OptimizerStepped", 1, { stage: 1, step: 3, microbatches: 2 });
    expect(Result.isSuccess(step) && step.success).toEqual({ v: 2, payload: { stage: 1, step: 3, microbatches: 2, leases: [], lr: null } });
    // v2 requires what v2 records.
    expect(Result.isFailure(registry.decode("OptimizerStepped", 2, { stage: 1, step: 3, microbatches: 2 }))).toBe(true);
  });

  it("decodes a valid lease and rejects a fractional microbatch index", () => {
    const ok = registry.decode("MicrobatchLeased", 1, { microbatch: 3, batch: 9, attempt: 0, miner: "m1", expires: 40 });
    expect(Result.isSuccess(ok)).toBe(true);
    const bad = registry.decode("MicrobatchLeased", 1, { microbatch: 3.5, batch: 9, attempt: 0, miner: "m1", expires: 40 });
    expect(Result.isFailure(bad) && bad.failure._tag).toBe("InvalidPayload");
  });

  it("accepts skipped partitions as null results and refuses unknown kick reasons", () => {
    const done = registry.decode("MergeCompleted", 1, { merge: "o-9", stage: 1, epoch: 2, results: ["ab", null], accepted: 1, skipped: 1 });
    expect(Result.isSuccess(done)).toBe(true);
    const kick = registry.decode("MinerKicked", 1, { miner: "m", reason: "vibes" });
    expect(Result.isFailure(kick)).toBe(true);
  });
});

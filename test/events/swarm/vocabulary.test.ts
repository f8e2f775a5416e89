import { Result } from "effect";
import { describe, expect, it } from "vitest";
import { EventRegistry } from "../../../src/events/registry.js";
import { ORCHESTRATOR_TYPES, swarmEvents, swarmVersion } from "../../../src/events/swarm/index.js";

describe("swarm vocabulary", () => {
  const registry = new EventRegistry(swarmEvents);

  it("registers every fact once, PascalCase and past tense", () => {
    for (const d of swarmEvents) {
      expect(d.type).toMatch(/^[A-Z][A-Za-z]+(ed|Sent|Left|Out)$/);
      expect(registry.latestVersion(d.type)).toBe(1);
      expect(swarmVersion(d.type)).toBe(1);
    }
    for (const t of ORCHESTRATOR_TYPES) expect(registry.has(t)).toBe(true);
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

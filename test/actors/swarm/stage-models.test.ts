// Which activation strategy a miner's stage runs with: the last stage recomputes (its backward is
// the whole fused step), the others keep their activations unless that is too much per lease.
import { describe, expect, it } from "vitest";
import { KEEP_ACTIVATIONS_BYTES, minerStageModels } from "../../../src/actors/swarm/stage-kernels.js";
import { DEFAULT_CONFIG } from "../../../src/kernels/model/config.js";
import { savedBytes } from "../../../src/kernels/model/stage.js";

describe("miner stage models", () => {
  it("keep activations before the last stage and recompute on it", () => {
    const gpt = { ...DEFAULT_CONFIG, stages: 3, nLayer: 3, bottleneck: 3 };
    const models = [0, 1, 2].map((s) => minerStageModels(gpt, s));
    expect(models.map((m) => m.activations)).toEqual(["keep", "keep", "recompute"]);
    expect(savedBytes(models[0]!)).toBeGreaterThan(0);
    expect(models[2]?.backward.outputs.some((o) => o.name === "loss")).toBe(true);
  });

  it("recompute when keeping would hold more than the budget per lease", () => {
    const gpt = { ...DEFAULT_CONFIG, stages: 2, batch: 64, seq: 256, bottleneck: 3 };
    const m = minerStageModels(gpt, 0);
    expect(m.activations).toBe("recompute");
    expect(savedBytes(minerStageModels({ ...gpt, batch: 1, seq: 16 }, 0))).toBeLessThanOrEqual(KEEP_ACTIVATIONS_BYTES);
  });
});

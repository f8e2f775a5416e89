// `swarmline train` flag parsing: defaults give the small default run, bad values are refused.
import { describe, expect, it } from "vitest";
import { main } from "../../../src/cli/main.js";
import { optionsFromFlags } from "../../../src/cli/train.js";
import { DEFAULT_TRAIN } from "../../../src/kernels/train/options.js";

const flags = {
  steps: "300", batch: "16", seq: "64", dModel: "128", layers: "4", heads: "4", lr: "0.003", seed: "1",
  evalEvery: "50", threads: "2", quant: "fp32" as const, stages: "1",
};

describe("swarmline train flags", () => {
  it("map the defaults onto the default training run", () => {
    expect(optionsFromFlags(flags)).toEqual(DEFAULT_TRAIN);
  });

  it("carry stages, bottleneck and wire type into the model config", () => {
    const o = optionsFromFlags({ ...flags, stages: "2", bottleneck: "4", quant: "int8" });
    expect(o.model.stages).toBe(2);
    expect(o.model.bottleneck).toBe(4);
    expect(o.quant).toBe("int8");
  });

  it("refuse non-integer or non-positive values", () => {
    expect(() => optionsFromFlags({ ...flags, steps: "0" })).toThrow(/--steps/);
    expect(() => optionsFromFlags({ ...flags, lr: "-1" })).toThrow(/--lr/);
    expect(() => optionsFromFlags({ ...flags, heads: "2.5" })).toThrow(/--heads/);
  });

  it("prints help and rejects an unknown wire type", async () => {
    expect(await main(["node", "swarmline", "train", "--help"])).toBe(0);
    expect(await main(["node", "swarmline", "train", "--quant", "int4"])).toBe(2);
  });
});

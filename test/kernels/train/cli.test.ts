// `swarmline train` flag parsing: defaults give the small default run, bad values are refused.
import { describe, expect, it } from "vitest";
import { main } from "../../../src/cli/main.js";
import { UsageError } from "../../../src/cli/run-settings.js";
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
    expect(() => optionsFromFlags({ ...flags, steps: "0" })).toThrow(UsageError);
  });

  it("refuse a bottleneck without stage boundaries and a model shape that cannot be built, naming the flags", () => {
    expect(() => optionsFromFlags({ ...flags, bottleneck: "4" })).toThrow(/--bottleneck needs --stages >= 2/);
    expect(() => optionsFromFlags({ ...flags, heads: "3" })).toThrow(/bad model shape: .*divisible.*--heads/);
    expect(() => optionsFromFlags({ ...flags, stages: "5" })).toThrow(UsageError);
    expect(() => optionsFromFlags({ ...flags, stages: "2", bottleneck: "500" })).toThrow(/bottleneck/);
  });

  it("prints help and rejects an unknown wire type", async () => {
    expect(await main(["node", "swarmline", "train", "--help"])).toBe(0);
    expect(await main(["node", "swarmline", "train", "--quant", "int4"])).toBe(2);
    // A bad value is a usage error like a bad flag (2), not a failed run (1); nothing trains.
    expect(await main(["node", "swarmline", "train", "--steps", "0"])).toBe(2);
    expect(await main(["node", "swarmline", "train", "--resume", "/nonexistent/swarmline.ckpt"])).toBe(2);
  });
});

// Usage errors across commands: a bad flag value exits 2 (like an unknown flag) before anything
// starts, and the commands that start a swarm run agree on its defaults.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { buildProgram, main } from "../../src/cli/main.js";
import { RUN_DEFAULTS, settingsOf } from "../../src/cli/run-settings.js";
import { simOptionsFromFlags } from "../../src/cli/sim.js";

describe("usage errors", () => {
  let err = "";
  beforeEach(() => {
    err = "";
    vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
      err += String(s);
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it("refuses a bad nats --port with exit 2, saying what a port must be", async () => {
    expect(await main(["node", "swarmline", "nats", "--port", "abc"])).toBe(2);
    expect(err).toMatch(/--port[\s\S]*1-65535/);
    expect(await main(["node", "swarmline", "nats", "--port", "70000"])).toBe(2);
  });

  it("refuses bad sim values and model shapes with exit 2, naming the flag to fix, before starting anything", async () => {
    expect(await main(["node", "swarmline", "sim", "--miners", "-1"])).toBe(2);
    expect(err).toMatch(/--miners must be an integer >= 1/);
    expect(await main(["node", "swarmline", "sim", "--dropout", "1.5"])).toBe(2);
    expect(err).toMatch(/--dropout/);
    expect(await main(["node", "swarmline", "sim", "--heads", "3"])).toBe(2);
    expect(err).toMatch(/divisible[\s\S]*fix --d-model, --heads/);
  });
});

describe("swarm run defaults", () => {
  it("are the same for `orchestrate` (no run.json, no flags) as for `sim`", () => {
    const sim = buildProgram().commands.find((c) => c.name() === "sim");
    expect(sim).toBeInstanceOf(Object);
    // Before parsing, a command's opts() are its declared defaults.
    const s = simOptionsFromFlags(sim?.opts() as Parameters<typeof simOptionsFromFlags>[0]);
    const o = settingsOf({}, {});
    expect(o.gpt).toEqual({ ...s.gpt, seed: s.seed });
    expect({ seed: o.seed, microbatches: o.microbatches, quant: o.quant, lr: o.lr, mergeEvery: o.mergeEvery, partitions: o.partitions, maxInFlight: o.maxInFlight })
      .toEqual({ seed: s.seed, microbatches: s.microbatches, quant: s.quant, lr: s.lr, mergeEvery: s.mergeEvery, partitions: s.partitions, maxInFlight: s.maxInFlight });
    expect(RUN_DEFAULTS.bottleneck).toBe(s.gpt?.bottleneck);
  });
});

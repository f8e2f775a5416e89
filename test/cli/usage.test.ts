// Usage errors across commands: a bad flag value exits 2 (like an unknown flag) before anything
// starts, and the commands that start a swarm run agree on its defaults.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { buildProgram, main } from "../../src/cli/main.js";
import { RUN_DEFAULTS, settingsOf } from "../../src/cli/run-settings.js";
import { parseKillNode, simOptionsFromFlags } from "../../src/cli/sim.js";

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

  it("refuses a secured nats without an allow-list, a malformed allow-list, and a secured miner without --run, with exit 2", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    expect(await main(["node", "swarmline", "nats", "--secure"])).toBe(2);
    const bad = join(mkdtempSync(join(tmpdir(), "swl-allow-")), "allow.txt");
    writeFileSync(bad, "not-a-hotkey\n");
    expect(await main(["node", "swarmline", "nats", "--secure", "--allow", bad])).toBe(2);
    expect(await main(["node", "swarmline", "miner", "--secure", "--nats", "nats://127.0.0.1:1", "--hotkey", "//Miner1"])).toBe(2);
  });

  it("refuses --deterministic with a bus or more than one ORT thread, with exit 2, naming the flag", async () => {
    expect(await main(["node", "swarmline", "sim", "--deterministic", "--nats", "nats://127.0.0.1:1"])).toBe(2);
    expect(await main(["node", "swarmline", "sim", "--deterministic", "--secure"])).toBe(2);
    expect(await main(["node", "swarmline", "sim", "--deterministic", "--threads", "2"])).toBe(2);
  });

  it("refuses --secure with --nats (a secured sim rewrites its own server's authorization) with exit 2", async () => {
    expect(await main(["node", "swarmline", "sim", "--secure", "--nats", "nats://127.0.0.1:1"])).toBe(2);
  });

  it("refuses --cluster with --nats or --secure, and a --kill-node that names no node of the sim's own, with exit 2", async () => {
    const sim = (...argv: string[]) => main(["node", "swarmline", "sim", ...argv]);
    expect(await sim("--cluster", "3", "--nats", "nats://127.0.0.1:1")).toBe(2);
    expect(await sim("--cluster", "3", "--secure")).toBe(2);
    expect(await sim("--cluster", "2")).toBe(2);
    expect(await sim("--cluster", "3", "--kill-node", "4@10")).toBe(2);
    expect(await sim("--kill-node", "2@10")).toBe(2); // one embedded server: node 1 only
    expect(await sim("--kill-node", "0@10")).toBe(2);
    expect(await sim("--kill-node", "leader")).toBe(2);
    expect(await sim("--kill-node", "1@10", "--nats", "nats://127.0.0.1:1")).toBe(2);
    expect([parseKillNode("2@40"), parseKillNode("leader@20")]).toEqual([{ node: 2, step: 40 }, { node: "leader", step: 20 }]);
  });

  it("refuses an unknown adversary kind or a bad scoring flag with exit 2, listing the kinds", async () => {
    expect(await main(["node", "swarmline", "sim", "--adversary", "sneaky@2"])).toBe(2);
    expect(err).toMatch(/--adversary expects KIND@ID with KIND one of noise, scaled, stale, freerider, lazy-reducer, colluding/);
    expect(await main(["node", "swarmline", "sim", "--adversary", "noise"])).toBe(2);
    expect(await main(["node", "swarmline", "sim", "--window", "0"])).toBe(2);
    expect(err).toMatch(/--window must be an integer >= 1/);
  });

  it("refuses a validator that names nobody to pay, or a malformed metagraph, with exit 2 before connecting", async () => {
    expect(await main(["node", "swarmline", "validate", "--nats", "nats://127.0.0.1:1", "--hotkey", "//V"])).toBe(2);
    expect(err).toMatch(/--metagraph FILE[\s\S]*--hotkeys/);
    expect(await main(["node", "swarmline", "validate", "--nats", "nats://127.0.0.1:1", "--hotkey", "//V", "--metagraph", "/nonexistent.json"])).toBe(2);
    expect(err).toMatch(/--metagraph \/nonexistent.json/);
    expect(await main(["node", "swarmline", "validate", "--nats", "nats://127.0.0.1:1", "--hotkey", "//V", "--hotkeys", "//M1", "--burn", "2"])).toBe(2);
    expect(err).toMatch(/--burn must be in \[0, 1\]/);
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

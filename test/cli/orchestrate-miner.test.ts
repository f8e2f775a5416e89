// `swarmline orchestrate` and `swarmline miner` at the edge: settings from defaults, run.json and
// flags; typed errors that name the bad setting; exit codes for bad flags (2) and unreachable NATS (1).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import { ConfigError, flagSettings, readRunFile, RUN_DEFAULTS, settingsOf, UsageError } from "../../src/cli/run-settings.js";

const dir = mkdtempSync(join(tmpdir(), "swl-orch-"));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe("run settings", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("layers flags over the run file over the defaults", () => {
    const f = readRunFile(file("run.json", JSON.stringify({ stages: 2, dModel: 64, steps: 50, bottleneck: null })));
    const s = settingsOf(f, flagSettings({ steps: "30", quant: "fp16" }));
    expect(s.microbatches).toBe(30);
    expect(s.quant).toBe("fp16");
    expect(s.gpt).toMatchObject({ stages: 2, dModel: 64, nLayer: RUN_DEFAULTS.layers, bottleneck: null });
    expect(s.seed).toBe(RUN_DEFAULTS.seed);
    expect(s.overlapMerges).toBe(true); // training overlaps merges unless told otherwise
    expect(settingsOf(f, flagSettings({ pauseMerges: true })).overlapMerges).toBe(false);
    expect(settingsOf(readRunFile(file("pause.json", JSON.stringify({ pauseMerges: true }))), {}).overlapMerges).toBe(false);
  });

  it("turns on the outer step from either outer setting, in the file or as flags, as sim does", () => {
    expect(settingsOf({}, {}).outer).toBeUndefined();
    expect(settingsOf({}, flagSettings({ outerLr: "0.5" })).outer).toEqual({ lr: 0.5, momentum: 0.9 });
    expect(settingsOf(readRunFile(file("outer.json", JSON.stringify({ outerMomentum: 0.8 }))), {}).outer).toEqual({ lr: 0.7, momentum: 0.8 });
    expect(() => settingsOf({}, flagSettings({ outerMomentum: "1" }))).toThrow(/outer-momentum must be in \[0, 1\)/);
    expect(() => flagSettings({ outerLr: "x" })).toThrow(/--outer-lr must be a number/);
  });

  it("names an unknown key of the run file and lists the allowed ones", () => {
    const p = file("typo.json", JSON.stringify({ dmodel: 64 }));
    expect(() => readRunFile(p)).toThrow(ConfigError);
    expect(() => readRunFile(p)).toThrow(/dmodel[\s\S]*allowed keys: .*dModel/);
  });

  it("refuses a file that is not JSON or cannot be read", () => {
    expect(() => readRunFile(file("bad.json", "{"))).toThrow(/is not JSON/);
    expect(() => readRunFile(join(dir, "missing.json"))).toThrow(/cannot read .*--config/);
  });

  it("rejects bad values with the flag's name", () => {
    expect(() => flagSettings({ dModel: "abc" })).toThrow(UsageError);
    expect(() => flagSettings({ dModel: "abc" })).toThrow(/--d-model must be an integer/);
    expect(() => settingsOf({}, flagSettings({ stages: "0" }))).toThrow(/stages must be >= 1/);
    expect(() => settingsOf({}, flagSettings({ stages: "5", layers: "4" }))).toThrow(/bad model shape/);
    expect(() => settingsOf({}, flagSettings({ lr: "-1" }))).toThrow(/lr must be a number > 0/);
  });
});

describe("exit codes", () => {
  let err = "";
  beforeEach(() => {
    err = "";
    vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
      err += String(s);
      return true;
    });
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  it("prints help for both commands and exits 0", async () => {
    expect(await main(["node", "swarmline", "orchestrate", "--help"])).toBe(0);
    expect(await main(["node", "swarmline", "miner", "--help"])).toBe(0);
  });

  it("exits 2 on a bad flag and 1 on an unreachable NATS, saying how to fix it", async () => {
    expect(await main(["node", "swarmline", "miner", "--nats", "nats://127.0.0.1:1", "--hotkey", "//M", "--threads", "0"])).toBe(2);
    expect(err).toMatch(/--threads must be an integer > 0/);
    expect(await main(["node", "swarmline", "orchestrate", "--nats", "nats://127.0.0.1:1", "--run", "bad run"])).toBe(2);
    expect(err).toMatch(/--run must be/);
    expect(await main(["node", "swarmline", "orchestrate", "--nats", "nats://127.0.0.1:1", "--eval-every", "-1"])).toBe(2);
    expect(err).toMatch(/--eval-every must be an integer >= 0 \(0: off\)/);
    expect(await main(["node", "swarmline", "orchestrate", "--nats", "nats://127.0.0.1:1", "--eval-every", "10", "--eval-batches", "0"])).toBe(2);
    expect(err).toMatch(/--eval-batches must be an integer >= 1/);
    expect(await main(["node", "swarmline", "orchestrate", "--nats", "nats://127.0.0.1:1", "--chain", "ws://127.0.0.1:1", "--head", "h"])).toBe(2);
    expect(err).toMatch(/--chain and --netuid go together/);
    expect(await main(["node", "swarmline", "orchestrate", "--nats", "nats://127.0.0.1:1", "--chain", "ws://127.0.0.1:1", "--netuid", "3"])).toBe(2);
    expect(err).toMatch(/--chain commits the anchors --head writes: add --head FILE/);
    expect(await main(["node", "swarmline", "orchestrate", "--nats", "nats://127.0.0.1:1", "--chain", "http://x", "--netuid", "3", "--head", "h"])).toBe(2);
    expect(err).toMatch(/--chain must be a ws:\/\/ or wss:\/\/ URL/);
    expect(await main(["node", "swarmline", "orchestrate", "--nats", "nats://127.0.0.1:1", "--steps", "4"])).toBe(1);
    expect(err).toMatch(/NatsUnavailable: cannot connect to nats:\/\/127.0.0.1:1[\s\S]*swarmline nats/);
    expect(await main(["node", "swarmline", "miner", "--nats", "nats://127.0.0.1:1", "--hotkey", "//M"])).toBe(1);
  });
});

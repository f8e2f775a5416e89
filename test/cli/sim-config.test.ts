// `swarmline sim --config run.json`: the run file orchestrate reads, with command-line flags over it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { splitLines } from "../../src/events/jsonl.js";
import { captureOutput } from "./capture.js";

const dir = mkdtempSync(join(tmpdir(), "swl-sim-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("swarmline sim --config", () => {
  const io = captureOutput();

  it("takes the run file's settings, and a flag on the command line over the file's", async () => {
    const config = join(dir, "run.json");
    writeFileSync(config, JSON.stringify({ stages: 2, layers: 2, dModel: 32, heads: 2, seq: 16, batch: 4, bottleneck: 4, steps: 12, mergeEvery: 3, warmup: 5, snapshotCodec: "f32" }));
    const json = join(dir, "out.json");
    const log = join(dir, "out.jsonl");
    const code = await main(["node", "swarmline", "sim", "--deterministic", "--no-validator", "--miners", "2", "--config", config, "--steps", "6", "--eval-every", "1000", "--json", json, "--log", log]);
    expect(code, io.err).toBe(0);
    expect(JSON.parse(readFileSync(json, "utf8"))).toMatchObject({ steps: 6, tokens: 6 * 4 * 16 });
    const start = splitLines(readFileSync(log, "utf8")).filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as { event?: { type: string; payload: { stages: unknown[]; schedule: { mergeEvery: number; snapshotCodec?: string }; model: { gpt: { dModel: number }; optim: { warmup: number } } } } }).find((l) => l.event?.type === "SwarmRunStarted")?.event?.payload;
    expect(start?.stages).toHaveLength(2);
    expect(start?.schedule.mergeEvery).toBe(3);
    expect(start?.schedule.snapshotCodec).toBe("f32");
    expect(start?.model.gpt.dModel).toBe(32);
    expect(start?.model.optim.warmup).toBe(5);
  });

  it("sends bfloat16 snapshots by default, and refuses an unknown codec with exit 2", async () => {
    const log = join(dir, "codec.jsonl");
    const code = await main(["node", "swarmline", "sim", "--deterministic", "--no-validator", "--miners", "2", "--stages", "2", "--layers", "2", "--d-model", "32", "--heads", "2", "--seq", "16", "--batch", "4", "--bottleneck", "4", "--steps", "4", "--eval-every", "1000", "--log", log]);
    expect(code, io.err).toBe(0);
    const start = splitLines(readFileSync(log, "utf8")).filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as { event?: { type: string; v: number; payload: { schedule: { snapshotCodec?: string } } } }).find((l) => l.event?.type === "SwarmRunStarted")?.event;
    expect(start?.v).toBe(6);
    expect(start?.payload.schedule.snapshotCodec).toBe("bf16");
    expect(await main(["node", "swarmline", "sim", "--deterministic", "--snapshot-codec", "fp8"])).toBe(2);
  });

  it("refuses a run file with an unknown setting, naming it, with exit 2", async () => {
    const config = join(dir, "bad.json");
    writeFileSync(config, JSON.stringify({ stages: 2, mergeEvry: 3 }));
    expect(await main(["node", "swarmline", "sim", "--deterministic", "--config", config])).toBe(2);
    expect(io.err).toMatch(/mergeEvry/);
  });
});

// `swarmline sim --deterministic`: real kernels under the virtual clock and the seeded scheduler.
// Two runs with one seed write the same bytes and the same loss curve (merges, a noise adversary
// and a killed miner included); another seed does not; the log verifies and every decision in it
// re-derives.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeCrypto } from "../../../src/actors/identity/node-crypto.js";
import { main } from "../../../src/cli/main.js";
import { decodeFacts } from "../../../src/events/facts.js";
import { parseLogLines, splitLines } from "../../../src/events/jsonl.js";
import type { SwarmFact } from "../../../src/events/swarm/index.js";
import { verifyLog } from "../../../src/events/verify.js";
import { vocabularyRegistry } from "../../../src/events/vocabulary.js";
import { auditDecisions, checkInvariants } from "../../../src/machines/orchestrator/index.js";
import { auditScorer } from "../../../src/machines/scorer/index.js";
import { captureOutput } from "../../cli/capture.js";

const TINY = ["--stages", "3", "--layers", "3", "--d-model", "32", "--heads", "2", "--seq", "16", "--batch", "4", "--bottleneck", "4", "--quant", "int8", "--eval-every", "8"];
const SWARM = ["--miners", "6", "--steps", "16", "--merge-every", "3", "--adversary", "noise@4", "--kill-miner", "5@10"];

type SimJson = { valBpb: number; lossCurve: [number, number][]; merges: { done: number }; microbatches: { completed: number; reissued: number; lost: number }; events: number; validator?: string };

const factsOf = (lines: string[]): SwarmFact[] => {
  const parsed = parseLogLines(lines);
  if (parsed._tag === "Failure") throw new Error(parsed.failure.detail);
  return decodeFacts(parsed.success.entries.map((e) => e.event));
};
const losses = (facts: readonly SwarmFact[]): number[] => facts.flatMap((f) => (f.type === "LossComputed" ? [f.payload.loss] : []));

describe("swarmline sim --deterministic", () => {
  let dir: string;
  const io = captureOutput();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "swl-det-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const sim = async (name: string, seed: number): Promise<{ code: number; bytes: Buffer; json: SimJson }> => {
    const log = join(dir, `${name}.jsonl`);
    const json = join(dir, `${name}.json`);
    const code = await main(["node", "swarmline", "sim", "--deterministic", "--seed", String(seed), ...TINY, ...SWARM, "--log", log, "--json", json]);
    return { code, bytes: readFileSync(log), json: JSON.parse(readFileSync(json, "utf8")) as SimJson };
  };

  it("writes byte-identical logs and loss curves for one seed, and a different log for another", async () => {
    const a = await sim("a", 3);
    expect(a.code, io.err).toBe(0);
    const b = await sim("b", 3);
    const c = await sim("c", 4);
    expect(b.code, io.err).toBe(0);
    expect(c.code, io.err).toBe(0);
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(a.json.lossCurve).toEqual(b.json.lossCurve);
    expect(a.json.valBpb).toBe(b.json.valBpb);
    expect(a.bytes.equals(c.bytes)).toBe(false);

    const lines = splitLines(a.bytes.toString("utf8"));
    const facts = factsOf(lines);
    expect(losses(facts)).toEqual(losses(factsOf(splitLines(b.bytes.toString("utf8")))));
    expect(losses(facts)).not.toEqual(losses(factsOf(splitLines(c.bytes.toString("utf8")))));
    // The run is a real one: merges, a completed schedule, a noise miner and a kill survived.
    expect(a.json.microbatches).toMatchObject({ completed: 16, lost: 0 });
    expect(a.json.microbatches.reissued).toBeGreaterThan(0); // the killed miner's leases
    expect(facts.some((f) => f.type === "MinerTimedOut")).toBe(true);
    expect(a.json.merges.done).toBeGreaterThan(0);
    expect(losses(facts).every(Number.isFinite)).toBe(true);

    expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines)).toMatchObject({ ok: true, events: a.json.events });
    expect(auditDecisions(facts)).toEqual([]);
    expect(checkInvariants(facts).violations).toEqual([]);
    expect(auditScorer(facts, a.json.validator ?? "").findings).toEqual([]);
  });
});

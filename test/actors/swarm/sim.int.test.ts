// `swarmline sim` end to end on a real nats-server: 8 miners over 3 stages train with merges, no
// microbatch is lost or counted twice, the exported log verifies and every orchestrator decision
// in it re-derives (replay determinism); a killed miner's leases are reissued and the run completes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadHotkey } from "../../../src/actors/identity/index.js";
import { nodeCrypto } from "../../../src/actors/identity/node-crypto.js";
import { startEmbeddedNats, type EmbeddedNats } from "../../../src/actors/nats/testing.js";
import { runSwarmSim } from "../../../src/actors/swarm/sim-run.js";
import { main } from "../../../src/cli/main.js";
import { parseLogLines, splitLines } from "../../../src/events/jsonl.js";
import { decodeFacts } from "../../../src/events/facts.js";
import type { SwarmFact } from "../../../src/events/swarm/index.js";
import { verifyLog } from "../../../src/events/verify.js";
import { vocabularyRegistry } from "../../../src/events/vocabulary.js";
import { auditDecisions, checkInvariants } from "../../../src/machines/orchestrator/index.js";
import { auditScorer } from "../../../src/machines/scorer/index.js";
import { captureOutput } from "../../cli/capture.js";

const TINY = ["--stages", "3", "--layers", "3", "--d-model", "32", "--heads", "2", "--seq", "16", "--batch", "4", "--bottleneck", "4", "--quant", "int8", "--eval-every", "20"];

type SimJson = {
  runId: string; steps: number; tokens: number; valBpb: number; lossCurve: [number, number][]; compressionRatio: number;
  merges: { done: number; skipped: number; disputes: number }; microbatches: { issued: number; completed: number; reissued: number; lost: number }; events: number;
  scores: Record<string, { contribution: number; ci: [number, number]; flagged: boolean; weight: number; reasons: string[]; spotChecks: { passed: number; failed: number } }>;
  adversaries: string[]; validator?: string;
  cpu: { userSeconds: number; systemSeconds: number; childSeconds: number | null; wallSeconds: number; cores: number };
  phases: { leases: number; lease: { name: string; medianMs: number }[]; merges: number; mergeMedianMs: number; mergeP90Ms: number };
};

const factsOf = (lines: string[]): SwarmFact[] => {
  const parsed = parseLogLines(lines);
  if (parsed._tag === "Failure") throw new Error(parsed.failure.detail);
  return decodeFacts(parsed.success.entries.map((e) => e.event));
};

describe("swarmline sim", () => {
  let nats: EmbeddedNats;
  let dir: string;
  // What the run printed besides progress (violations, host errors): the message of a failed exit code.
  const io = captureOutput();
  const problems = (): string => io.err.split("\n").filter((l) => l !== "" && !l.startsWith("step ")).join("\n");
  beforeAll(async () => {
    nats = await startEmbeddedNats();
    dir = mkdtempSync(join(tmpdir(), "swl-sim-"));
  });
  afterAll(async () => {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const sim = async (name: string, args: string[]): Promise<{ code: number; json: SimJson; lines: string[] }> => {
    const json = join(dir, `${name}.json`);
    const log = join(dir, `${name}.jsonl`);
    const code = await main(["node", "swarmline", "sim", "--nats", nats.url, ...TINY, ...args, "--json", json, "--log", log]);
    return { code, json: JSON.parse(readFileSync(json, "utf8")) as SimJson, lines: splitLines(readFileSync(log, "utf8")) };
  };

  // One retry: in one full CI run (of ~15 runs of this test on 2026-12-06) six of the eight honest
  // miners each failed one spot check and were flagged; 20 runs since, quiet and loaded, did not
  // repeat it, and its cause is not found (the stop's note names it as an open bug).
  it("trains 8 miners over 3 stages with merges, losing and double-counting nothing, in a log that verifies and replays", { retry: 1 }, async () => {
    const { code, json, lines } = await sim("eight", ["--miners", "8", "--steps", "40", "--merge-every", "6"]);
    expect(code, problems()).toBe(0);
    expect(Object.keys(json).sort()).toEqual(["adversaries", "compressionRatio", "cpu", "events", "lossCurve", "merges", "microbatches", "phases", "runId", "scores", "steps", "tokens", "tokensPerSecond", "valBpb", "validator"]);
    expect(json.microbatches).toEqual({ issued: 40, completed: 40, reissued: 0, lost: 0 });
    // CPU while training: the sim's own (kernels included); a server given by --nats is not its own to measure.
    expect(json.cpu.userSeconds).toBeGreaterThan(0);
    expect(json.cpu.childSeconds).toBeNull();
    expect(json.cpu.cores).toBeCloseTo((json.cpu.userSeconds + json.cpu.systemSeconds) / json.cpu.wallSeconds, 6);
    // Wall time by phase: every completed lease timed along its 3-stage path, ending at its completion; every merge.
    expect(json.phases.leases).toBe(40);
    expect(json.phases.lease.map((m) => m.name).sort()).toEqual(["ActivationsForwarded0", "ActivationsForwarded1", "BackwardCompleted0", "BackwardCompleted1", "BackwardCompleted2", "GradientsReturned1", "GradientsReturned2", "LossComputed", "MicrobatchCompleted"]);
    expect(json.phases.lease.at(-1)?.name).toBe("MicrobatchCompleted");
    expect(json.phases.lease.every((m, i, all) => m.medianMs > 0 && (i === 0 || m.medianMs >= (all[i - 1] as { medianMs: number }).medianMs))).toBe(true);
    expect(json.phases.merges).toBe(json.merges.done);
    expect(json.phases.mergeP90Ms).toBeGreaterThanOrEqual(json.phases.mergeMedianMs);
    // Merges go on all run long (~6 per stage), not only the first round: a miner still loading one
    // merge's result takes part in the next one once the load lands.
    expect(json.merges.done).toBeGreaterThanOrEqual(9);
    expect(json.merges.skipped).toBe(0);
    expect(json.tokens).toBe(40 * 4 * 16);
    // d 32 -> b 4 with int8 (one scale per sequence): ~29x on this tiny shape, both directions.
    expect(json.compressionRatio).toBeGreaterThan(20);
    expect(json.lossCurve.length).toBeGreaterThanOrEqual(2);
    expect(Number.isFinite(json.valBpb)).toBe(true);
    const verdict = verifyLog(nodeCrypto, vocabularyRegistry(), lines);
    expect(verdict).toMatchObject({ ok: true, events: json.events });
    const facts = factsOf(lines);
    expect(auditDecisions(facts)).toEqual([]);
    const schedule = checkInvariants(facts);
    expect(schedule.violations).toEqual([]);
    expect(schedule.completed).toBe(40);
    // Every microbatch's pathway (one miner per stage) and loss is on record: CLASP's input.
    const done = facts.filter((f) => f.type === "MicrobatchCompleted");
    expect(done).toHaveLength(40);
    for (const f of done) if (f.type === "MicrobatchCompleted") {
      expect(f.payload.pathway).toHaveLength(3);
      expect(f.payload.pathway.every((m) => m.length > 0)).toBe(true);
      expect(Number.isFinite(f.payload.loss)).toBe(true);
    }
    expect(facts.some((f) => f.type === "PartitionReduced")).toBe(true);
    // After a stage's first merge and every 4th after, its lowest-id miner stores its AdamW state with its weights.
    const stored = facts.filter((f) => f.type === "WeightsLoaded" && f.payload.optimizer !== undefined);
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.every((f) => f.type === "WeightsLoaded" && f.payload.epoch % 4 === 1)).toBe(true);
    // The validator scored every miner, flagged none of these honest ones, and re-derives.
    expect(Object.keys(json.scores).sort()).toEqual(Array.from({ length: 8 }, (_, i) => loadHotkey(`//Miner${i}`).address).sort());
    // On a failure the message carries every failed check and flag as the log has them (the open
    // bug above: whether a check went late before the miner opened its weights, or re-executed to
    // another result), and the log is kept in the OS temporary directory; it is also said on stderr,
    // since the retry would otherwise hide a first failure.
    const failed = facts.filter((f) => f.type === "SpotCheckFailed" || f.type === "MinerFlagged").map((f) => ({ type: f.type, at: f.step, payload: f.payload }));
    const why = (): string => {
      if (failed.length === 0) return "";
      const kept = join(tmpdir(), `swl-sim-eight-failed-${Date.now()}.jsonl`);
      writeFileSync(kept, `${lines.join("\n")}\n`);
      const said = `honest miners failed spot checks; log kept at ${kept}; ${JSON.stringify(failed)}; the run said: ${problems() || "nothing"}`;
      console.warn(said); // stderr itself is captured in this file
      return said;
    };
    expect(Object.values(json.scores).filter((x) => x.flagged), why()).toEqual([]);
    expect(Object.values(json.scores).reduce((a, x) => a + x.spotChecks.passed, 0)).toBeGreaterThan(0);
    expect(auditScorer(facts, json.validator ?? "").findings).toEqual([]);
  });

  // 14 s alone, 24 s beside two heavy test files; once over 60 s in a full CI run. The sim waits up
  // to 120 s for its validator's last window, so the limit leaves room for that and an answer.
  it("catches adversarial miners with real kernels: noise and a freerider by spot checks, a lazy reducer by its merges (a lost cross-check or a re-executed reduction)", { timeout: 180_000 }, async () => {
    const { code, json, lines } = await sim("adversaries", ["--miners", "9", "--steps", "40", "--merge-every", "4", "--adversary", "noise@2", "--adversary", "freerider@4", "--adversary", "lazy-reducer@7"]);
    expect(code, problems()).toBe(0);
    expect(json.adversaries).toEqual([2, 4, 7].map((i) => loadHotkey(`//Miner${i}`).address));
    for (const a of json.adversaries) {
      expect(json.scores[a]?.flagged, a).toBe(true);
      expect(json.scores[a]?.weight ?? 1).toBeLessThanOrEqual(0.01);
    }
    for (const [m, x] of Object.entries(json.scores)) if (!json.adversaries.includes(m)) expect(x.flagged, m).toBe(false);
    expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines).ok).toBe(true);
    const facts = factsOf(lines);
    // The lazy reducer is caught by its merges: a cross-check dispute it lost, or a re-executed reduction it was alone on.
    const lazy = json.adversaries[2] as string;
    const byMerge = facts.filter((f) => (f.type === "DisputeSettled" && f.payload.flagged.includes(lazy))
      || (f.type === "MinerFlagged" && f.payload.miner === lazy && (f.payload.reason === "wrong-reduction" || f.payload.detail.startsWith("reduce check"))));
    expect(byMerge.length).toBeGreaterThan(0);
    expect(json.merges.done).toBeGreaterThanOrEqual(12);
    expect(auditDecisions(facts)).toEqual([]);
    expect(auditScorer(facts, json.validator ?? "").findings).toEqual([]);
  });

  it("trains with per-actor permissions on: every miner and the validator join through the gatekeeper and write over their own nkey", async () => {
    const json = join(dir, "secure.json");
    const log = join(dir, "secure.jsonl");
    const code = await main(["node", "swarmline", "sim", "--secure", ...TINY, "--miners", "6", "--steps", "20", "--merge-every", "4", "--json", json, "--log", log]);
    expect(code, problems()).toBe(0);
    const r = JSON.parse(readFileSync(json, "utf8")) as SimJson;
    expect(r.microbatches).toMatchObject({ completed: 20, lost: 0 });
    expect(r.merges.done).toBeGreaterThan(0);
    // Its own embedded server's CPU is measured with the sim's.
    expect(r.cpu.childSeconds).toBeGreaterThan(0);
    const lines = splitLines(readFileSync(log, "utf8"));
    expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines).ok).toBe(true);
    const facts = factsOf(lines);
    // Each member's session key is the nkey it logged in with: one certificate per miner, one for the validator.
    const parsed = parseLogLines(lines);
    const entries = parsed._tag === "Success" ? parsed.success.entries : [];
    const certified = new Set(entries.filter((e) => e.event.type === "SessionKeyCertified").map((e) => e.event.actor));
    expect(certified.size).toBe(1 + 6 + 1);
    expect(Object.keys(r.scores)).toHaveLength(6);
    expect(auditDecisions(facts)).toEqual([]);
    expect(auditScorer(facts, r.validator ?? "").findings).toEqual([]);
  });

  it("reissues a killed miner's leases and still completes every microbatch exactly once", async () => {
    // Miner 0 serves stage 0 (assignment fills stages in join order), so it holds open leases.
    const { code, json, lines } = await sim("kill", ["--miners", "6", "--steps", "30", "--merge-every", "100", "--kill-miner", "0@4", "--tick-ms", "40"]);
    expect(code, problems()).toBe(0);
    expect(json.microbatches.completed).toBe(30);
    expect(json.microbatches.lost).toBe(0);
    expect(json.microbatches.reissued).toBeGreaterThan(0);
    const facts = factsOf(lines);
    const reissued = facts.filter((f) => f.type === "MicrobatchReissued");
    expect(reissued.length).toBe(json.microbatches.reissued);
    expect(facts.some((f) => f.type === "MinerTimedOut")).toBe(true);
    expect(checkInvariants(facts).violations).toEqual([]);
    expect(auditDecisions(facts)).toEqual([]);
    expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines).ok).toBe(true);
  });

  it("survives a miner killed mid-merge: its reducer duties are reassigned, the merge completes, nothing is lost", async () => {
    // Miner 0 dies right after sending its partitions to its first merge, holding reducer duties.
    const { code, json, lines } = await sim("kill-merge", ["--miners", "6", "--steps", "100", "--merge-every", "4", "--kill-miner", "0@merge", "--tick-ms", "20"]);
    expect(code, problems()).toBe(0);
    expect(json.microbatches.completed).toBe(100);
    expect(json.microbatches.lost).toBe(0);
    const facts = factsOf(lines);
    const dead = loadHotkey("//Miner0").address;
    const sent = facts.filter((f) => f.type === "PartitionsSent" && f.actor === dead);
    expect(sent).toHaveLength(1); // it died after its first contribution
    const merge = sent[0]?.type === "PartitionsSent" ? sent[0].payload.merge : "";
    const started = facts.find((f) => f.id === merge);
    expect(started?.type === "MergeStarted" && started.payload.reducers.some((rs) => rs.includes(dead))).toBe(true);
    expect(facts.some((f) => f.type === "MinerTimedOut" && f.payload.miner === dead)).toBe(true);
    // Its partitions were reduced by someone else: reassigned, and the merge completed with every partition accepted.
    expect(facts.some((f) => f.type === "PartitionReassigned" && f.payload.merge === merge && f.payload.replaces === dead)).toBe(true);
    const done = facts.find((f) => f.type === "MergeCompleted" && f.payload.merge === merge);
    expect(done?.type === "MergeCompleted" && done.payload.skipped).toBe(0);
    expect(facts.some((f) => f.type === "PartitionReduced" && f.actor === dead)).toBe(false);
    expect(checkInvariants(facts).violations).toEqual([]);
    expect(auditDecisions(facts)).toEqual([]);
    expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines).ok).toBe(true);
  });

  it("gives a miner that joins mid-run the stage's current weights and the AdamW state a peer stored", async () => {
    const lines: string[] = [];
    const r = await runSwarmSim({
      // Miner 6 joins once every stage has stored an AdamW state (the log names one for each).
      seed: 4, nats: nats.url, miners: 7, microbatches: 120, lateJoin: [{ miner: 6, when: (v) => v.stages.every((st) => st.optimizer !== null) }],
      gpt: { stages: 3, nLayer: 3, dModel: 32, nHead: 2, seq: 16, batch: 4, bottleneck: 4 }, quant: "int8", mergeEvery: 2,
      evalEvery: 1_000, evalBatches: 1, tickMs: 20, logLines: (ls) => { lines.push(...ls); },
    });
    expect(r.violations).toEqual([]);
    expect(r.microbatches).toMatchObject({ completed: 120, lost: 0 });
    const facts = factsOf(lines);
    const late = loadHotkey("//Miner6").address;
    const assigned = facts.find((f) => f.type === "StageAssigned" && f.payload.miner === late);
    expect(assigned?.type === "StageAssigned" && assigned.payload.epoch).toBeGreaterThan(0); // merged weights, not the initial ones
    const loaded = facts.find((f) => f.type === "WeightsLoaded" && f.actor === late);
    const stored = facts.filter((f) => f.type === "WeightsLoaded" && f.actor !== late && f.payload.optimizer !== undefined);
    expect(loaded?.type === "WeightsLoaded" && loaded.payload.optimizer).toBeDefined();
    // It took over the state stored last for its stage before it joined.
    const before = stored.filter((f) => f.type === "WeightsLoaded" && assigned?.type === "StageAssigned" && f.payload.stage === assigned.payload.stage && facts.indexOf(f) < facts.indexOf(assigned));
    const last = before[before.length - 1];
    expect(loaded?.type === "WeightsLoaded" && last?.type === "WeightsLoaded" && loaded.payload.optimizer === last.payload.optimizer).toBe(true);
    expect(auditDecisions(facts)).toEqual([]);
  });

  it("names a solo stage's trained weights in the log, though that stage never merges", async () => {
    const lines: string[] = [];
    const r = await runSwarmSim({
      seed: 6, nats: nats.url, miners: 3, microbatches: 24,
      gpt: { stages: 2, nLayer: 2, dModel: 32, nHead: 2, seq: 16, batch: 4, bottleneck: 4 }, quant: "int8", mergeEvery: 4,
      evalEvery: 1_000, evalBatches: 1, tickMs: 20, logLines: (ls) => { lines.push(...ls); },
    });
    expect(r.violations).toEqual([]);
    const facts = factsOf(lines);
    const start = facts.find((f) => f.type === "SwarmRunStarted");
    const assigned = facts.filter((f) => f.type === "StageAssigned");
    const solo = [0, 1].find((s) => assigned.filter((f) => f.type === "StageAssigned" && f.payload.stage === s).length === 1) as number;
    const initial = start?.type === "SwarmRunStarted" ? start.payload.stages[solo]?.weights : undefined;
    expect(facts.some((f) => f.type === "MergeStarted" && f.payload.stage === solo)).toBe(false);
    // Every 4 backward passes (24 microbatches: 6 times; the last may still be in flight at the end) its miner names its current weights.
    const stored = facts.filter((f) => f.type === "WeightsLoaded" && f.payload.stage === solo && f.payload.ref !== initial);
    expect(stored.length).toBeGreaterThanOrEqual(5);
    expect(stored.length).toBeLessThanOrEqual(6);
    expect(new Set(stored.map((f) => (f.type === "WeightsLoaded" ? f.payload.ref : ""))).size).toBe(stored.length);
    expect(auditDecisions(facts)).toEqual([]);
  });
});

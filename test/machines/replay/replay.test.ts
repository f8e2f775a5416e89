// Time travel over a real sim log (test/fixtures/sim-killed.jsonl: 3 stages of 2 miners and a
// validator; miner 5Cyn2nMW… is killed during its stage's first merge and times out at tick 62)
// and over the golden scored run (a lazy reducer disputed, flagged and kicked). Expected values
// are read off the log itself where they can be, so the fold is checked against the facts.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Result } from "effect";
import { describe, expect, it } from "vitest";
import { type LogEntry, parseLogLines, splitLines } from "../../../src/events/jsonl.js";
import {
  type At, diffSnapshots, Replayer, type RunSnapshot, snapshotAt, type WorkerMachineSnapshot, type WorkerSnapshot,
} from "../../../src/machines/replay/index.js";
import { GOLDEN_SCORED, goldenScoredKeys } from "../../fixtures/make-golden.js";

const SIM_KILLED = fileURLToPath(new URL("../../fixtures/sim-killed.jsonl", import.meta.url));

const entriesOf = (file: string): LogEntry[] => {
  const p = parseLogLines(splitLines(readFileSync(file, "utf8")));
  if (Result.isFailure(p)) throw new Error(p.failure.detail);
  return p.success.entries;
};

const entries = entriesOf(SIM_KILLED);
const RUN = "sim-1-d81307";
const KILLED = "5Cyn2nMWaEMfx9WfobdMoteKoPF7hwP4Gw5MHBznqWFkisrK";
const PARTNER = "5HipECoTgvusTYknA6sUvTR8xPReygF5p9RJQuHoDun16Ev2"; // the other stage-0 miner
const STAGE1 = ["5FpjvVN9fkYjNvNwzZYxLFNz2UVDmeZ8ZvD47A1dLMnsVgo6", "5GKcNHCWnQdPD3NxUwHsr5GCt5ecG9o9CwAzBzvw2iHzKhmX"];
const STAGE2 = ["5EASTaokxirHhjuMC4KYjxxpCqh8HcFkaDUnyqKbT7Wj5hWP", "5F7Z3hfWxcf1Z23HGquSyHzEqu9LY4gHhaQcv3fbU8mkRUk3"];
const VALIDATOR = "5CzRdZLnRxWkyWoGZZbfvSCY4mbw1cmsow5q8cgZyGg1aiDq";
const MERGE = `${RUN}:o33`; // stage 0's first merge, open from seq 111 to 443

/** One replayer serves the fixture's points (checkpoints every 64 entries); other logs fold in one pass. */
const replayer = Replayer.of(entries, 64);
const at = (a: At, es: readonly LogEntry[] = entries): RunSnapshot => {
  const r = es === entries && Result.isSuccess(replayer) ? replayer.success.snapshotAt(a) : snapshotAt(es, a);
  if (Result.isFailure(r)) throw new Error(JSON.stringify(r.failure));
  return r.success;
};

const machine = (s: RunSnapshot, miner: string): WorkerMachineSnapshot => {
  const w: WorkerSnapshot | undefined = s.workers[miner];
  if (w?.reconstructed !== true) throw new Error(`no rebuilt machine for ${miner}`);
  return w;
};

/** Facts of the raw log, for expectations read off the log rather than the fold. */
const raw = entries.map((e) => ({ ...e.event, seq: e.seq }));

describe("snapshotAt", () => {
  it("folds the log up to a stream seq and says where it stands", () => {
    const s = at({ seq: 172 });
    expect(s.run).toBe(RUN);
    expect(s.position).toEqual({
      seq: 172, entries: 172, total: 561, facts: 164, step: 12,
      last: { seq: 172, id: `${RUN}:${PARTNER}:e54ac086:18`, type: "PartitionReduced", actor: PARTNER },
    });
    expect(s.orchestrator?.counters).toMatchObject({ issued: 9, completed: 6, reissued: 0, mergesDone: 2, partitionsAccepted: 8, timedOut: 0 });
    // Completed microbatches agree with the log's MicrobatchCompleted facts up to that point.
    expect(s.orchestrator?.counters.completed).toBe(raw.filter((f) => f.seq <= 172 && f.type === "MicrobatchCompleted").length);
  });

  it("mid-merge: the open merge with participants, seal and partitions, and its miners' machines exchanging", () => {
    const s = at({ seq: 172 });
    const o = s.orchestrator;
    expect(o?.stages[0]).toMatchObject({ phase: "merging", merge: MERGE, epoch: 0, miners: [KILLED, PARTNER] });
    expect(Object.keys(o?.merges ?? {})).toEqual([MERGE]);
    const g = o?.merges[MERGE];
    expect(g?.participants).toEqual([{ miner: KILLED, samples: 2 }, { miner: PARTNER, samples: 2 }]);
    expect(g?.sent).toEqual([KILLED, PARTNER]);
    expect(g?.sealed).toEqual([{ miner: KILLED, samples: 2 }, { miner: PARTNER, samples: 2 }]);
    // Four partitions, each reduced by both miners; only the partner has claimed (its PartitionReduced at seqs 169-172).
    const claims = raw.filter((f) => f.seq <= 172 && f.type === "PartitionReduced" && (f.payload as { merge: string }).merge === MERGE);
    expect(claims.map((f) => f.seq)).toEqual([169, 170, 171, 172]);
    expect(g?.partitions.map((p) => p.reducers)).toEqual(Array.from({ length: 4 }, () => [KILLED, PARTNER]));
    expect(g?.partitions.map((p) => p.claims)).toEqual(claims.map((f) => ({ [PARTNER]: (f.payload as { hash: string }).hash })));
    expect(g?.partitions.every((p) => p.status === "open" && !p.disputed)).toBe(true);
    // Both stage-0 machines are exchanging; the dead one was asked for its four reductions and never answered.
    expect(machine(s, PARTNER)).toMatchObject({ state: { merging: "exchanging" }, merge: MERGE, requested: {}, pending: 0, steps: 2 });
    expect(machine(s, KILLED)).toMatchObject({ state: { merging: "exchanging" }, merge: MERGE, requested: { reduce: 4 }, pending: 4 });
    // Stage 1's merge completed (seq 165): its machines are adopting the result, each waiting on its applyMerge.
    for (const m of STAGE1) expect(machine(s, m)).toMatchObject({ state: { merging: "loading" }, merge: `${RUN}:o30`, requested: expect.objectContaining({ applyMerge: 1 }) as object });
    expect(o?.stages[1]).toMatchObject({ phase: "training", epoch: 1, merge: null });
  });

  it("after the killed miner timed out: gone, its leases reissued to the queue, its reducer duties reassigned, its machine stopped", () => {
    const reissued = raw.filter((f) => f.type === "MicrobatchReissued" && (f.payload as { miner: string }).miner === KILLED);
    expect(reissued.map((f) => f.seq)).toEqual([425, 426, 427]);
    const before = at({ seq: 423 });
    const after = at({ seq: 431 });
    expect(before.orchestrator?.miners[KILLED]?.status).toBe("active");
    expect(after.orchestrator?.miners[KILLED]).toMatchObject({ status: "gone", lastSeen: 11, stage: 0 });
    expect(after.orchestrator?.counters).toMatchObject({ timedOut: 1, reissued: 3 });
    const leases = reissued.map((f) => (f.payload as { lease: string }).lease);
    for (const l of leases) {
      expect(before.orchestrator?.leases[l]?.pathway[0]).toBe(KILLED);
      expect(after.orchestrator?.leases[l]).toBeUndefined();
    }
    expect(after.orchestrator?.retry).toEqual([{ microbatch: 6, batch: 572381, attempt: 1 }, { microbatch: 10, batch: 235581, attempt: 1 }, { microbatch: 14, batch: 872920, attempt: 1 }]);
    const g = after.orchestrator?.merges[MERGE];
    expect(g?.partitions.map((p) => p.replaced)).toEqual([[KILLED], [KILLED], [KILLED], [KILLED]]);
    expect(g?.partitions.map((p) => p.reducers[2])).toEqual([STAGE2[0], STAGE1[0], STAGE2[1], STAGE1[1]]);
    expect(after.orchestrator?.stages[0]?.miners).toEqual([PARTNER]);
    // Its machine: stopped by MinerTimedOut; its last fact in the log is the one it published before it died.
    const last = raw.filter((f) => f.actor === KILLED).at(-1);
    expect(last?.seq).toBe(134);
    expect(machine(after, KILLED)).toMatchObject({
      state: "gone", status: "done", logged: 11, lastFact: { seq: 134, step: 11, type: "BackwardCompleted" },
      requested: { reduce: 4, backward: 1, forward: 2 }, awaiting: [`${RUN}:o34`, `${RUN}:o59`, `${RUN}:o82`],
    });
    // What it decided after it died (heartbeats) never reached the log.
    expect(machine(after, KILLED).unlogged).toEqual({ HeartbeatSent: 10 });
    expect(machine(before, KILLED).state).toEqual({ merging: "exchanging" });
  });

  it("{ step } folds the whole logical step: every entry before the orchestrator's next tick", () => {
    const tick12 = raw.find((f) => f.type === "ClockTicked" && (f.payload as { tick: number }).tick === 12);
    expect(tick12?.seq).toBe(156);
    const s = at({ step: 11 });
    expect(s.position).toMatchObject({ seq: 155, entries: 155, step: 11 });
    expect(JSON.stringify(s)).toBe(JSON.stringify(at({ seq: 155 })));
    expect(at({ step: 0 }).position).toMatchObject({ step: 0 });
    expect(at({ step: 65 }).position).toMatchObject({ seq: 561, entries: 561, step: 65 });
  });

  it("before the run starts there is no orchestrator, worker or score; a point past the end or not a position is refused", () => {
    expect(at({ seq: 0 })).toMatchObject({ orchestrator: null, workers: {}, scores: {}, position: { seq: 0, entries: 0, facts: 0, last: null } });
    expect(snapshotAt(entries, { seq: 562 })).toEqual(Result.fail({ _tag: "PastTheEnd", at: { seq: 562 }, last: 561 }));
    expect(snapshotAt(entries, { step: 66 })).toEqual(Result.fail({ _tag: "PastTheEnd", at: { step: 66 }, last: 65 }));
    expect(snapshotAt(entries, { seq: -1 })).toEqual(Result.fail({ _tag: "BadPosition", at: { seq: -1 } }));
    expect(snapshotAt(entries, { step: 1.5 })).toEqual(Result.fail({ _tag: "BadPosition", at: { step: 1.5 } }));
  });

  it("names an event that does not decode instead of folding it", () => {
    const bad = entries.map((e) => (e.seq === 6 ? { ...e, event: { ...e.event, payload: { throughput: "fast" } } } : e));
    const r = snapshotAt(bad, { seq: 10 });
    expect(Result.isFailure(r) && r.failure).toMatchObject({ _tag: "Undecodable", seq: 6, id: `${RUN}:${KILLED}:1ef01dbf:1`, type: "MinerJoined" });
  });

  it("at the end every survivor's rebuilt machine published exactly its facts in the log and left", () => {
    const s = at({ seq: 561 });
    for (const m of [PARTNER, ...STAGE1, ...STAGE2]) {
      const w = machine(s, m);
      const own = raw.filter((f) => f.actor === m);
      expect(w.state).toBe("gone");
      expect(w.lastFact?.type).toBe("MinerLeft");
      expect(w.logged).toBe(own.length - 1); // its SessionKeyCertified is no swarm fact
      expect(w.published).toBe(w.logged);
      // Its step count is the log's: the last OptimizerStepped it recorded.
      const steps = own.filter((f) => f.type === "OptimizerStepped").map((f) => (f.payload as { step: number }).step);
      expect(w.steps).toBe(Math.max(...steps));
      expect(w.unlogged).toEqual({});
    }
    // Where the replay could not know when a result reached the host, it says so: two of the partner's
    // steps came before a lease the rebuilt machine had already seen (it would have deferred them).
    expect(machine(s, PARTNER).divergence).toEqual({ unmatched: { OptimizerStepped: 2 }, skipped: {} });
    for (const m of [...STAGE1, ...STAGE2]) expect(machine(s, m).divergence).toEqual({ unmatched: {}, skipped: {} });
  });

  it("a miner whose MinerJoined id is not its machine's is reported, not guessed", () => {
    const renamed = entries.map((e) => (e.event.type === "MinerJoined" && e.event.actor === STAGE2[1] ? { ...e, event: { ...e.event, id: "joined-by-hand" } } : e));
    const s = at({ seq: 200 }, renamed);
    expect(s.workers[STAGE2[1] as string]).toEqual({ miner: STAGE2[1], reconstructed: false, reason: expect.stringContaining("joined-by-hand") as string });
    expect(s.orchestrator?.miners[STAGE2[1] as string]?.status).toBe("active");
  });
});

describe("scores", () => {
  it("appear once the validator started scoring, and hold its windows and decisions so far", () => {
    const started = raw.find((f) => f.type === "ScoringStarted");
    expect(started).toMatchObject({ seq: 4, actor: VALIDATOR });
    expect(at({ seq: 3 }).scores).toEqual({});
    expect(at({ seq: 4 }).scores[VALIDATOR]).toMatchObject({ window: 20, completed: 0, contributions: [], flags: [], weights: [] });
    const end = at({ seq: 561 }).scores[VALIDATOR];
    const scored = raw.filter((f) => f.type === "ContributionScored");
    expect(end?.contributions).toEqual(scored.map((f) => f.payload));
    expect(end?.contributions.map((c) => c.miner).sort()).toEqual([KILLED, PARTNER, ...STAGE1, ...STAGE2].sort());
    expect(end?.weights.map((w) => w.window)).toEqual([0]);
    expect(end?.windows[0]).toMatchObject({ index: 0, samples: 16, closed: true, scored: true, failed: 0 });
  });

  it("in the golden scored run: a disputed partition settled, the lazy reducer flagged and kicked, its machine stopped", () => {
    const k = goldenScoredKeys();
    const lazy = k.lazyReducer.hotkey.address;
    const s = at({ seq: 360 }, entriesOf(GOLDEN_SCORED));
    expect(s.orchestrator?.miners[lazy]).toMatchObject({ status: "kicked", flagged: true });
    const g = s.orchestrator?.merges["golden-scored:o52"];
    expect(g?.partitions[0]).toMatchObject({ status: "accepted", disputed: true, settled: true, hash: "f167046466db42d2d455a5f6c2db8ce5" });
    expect(g?.partitions[0]?.claims[lazy]).toBe("0063e9d048a865b49d6ade6b4760318f");
    expect(g?.partitions[2]).toMatchObject({ status: "open", disputed: true, settled: false });
    expect(g?.partitions[2]?.reducers).toHaveLength(3);
    expect(machine(s, lazy)).toMatchObject({ state: "gone", status: "done" });
    const end = at({ seq: 1407 }, entriesOf(GOLDEN_SCORED)).scores[k.validator.hotkey.address];
    // Kicked in window 0, it served in no later window: one flag, for the reduction the settled dispute
    // found wrong (the validator's seeded draws, beacons from the chain hashes, sampled none of its work).
    expect(end?.flags.filter((f) => f.miner === lazy)).toEqual([expect.objectContaining({ window: 0, reason: "wrong-reduction" })]);
    expect(end?.caught[lazy]).toEqual({ window: 0, reason: "wrong-reduction" });
    expect(end?.windows.map((w) => w.scored)).toEqual([true, true, false]);
  });
});

describe("Replayer", () => {
  it("gives the one-pass fold's snapshots from its checkpoints, in any order", () => {
    const r = Replayer.of(entries, 64);
    if (Result.isFailure(r)) throw new Error("decodes");
    expect(r.success.end).toEqual({ seq: 561, step: 65 });
    for (const seq of [431, 17, 561, 130, 128, 0, 300]) expect(JSON.stringify(r.success.snapshotAt({ seq }))).toBe(JSON.stringify(snapshotAt(entries, { seq })));
  });
});

describe("diffSnapshots", () => {
  it("names what the timeout changed: the miner's status, its leases closed and queued again, its machine stopped", () => {
    const d = diffSnapshots(at({ seq: 423 }), at({ seq: 431 }));
    expect(d.from.seq).toBe(423);
    expect(d.to.seq).toBe(431);
    const change = (...path: (string | number)[]) => d.changes.find((c) => c.path.join("/") === path.join("/"));
    expect(change("orchestrator", "miners", KILLED, "status")).toEqual({ path: ["orchestrator", "miners", KILLED, "status"], kind: "changed", before: "active", after: "gone" });
    expect(change("orchestrator", "counters", "timedOut")).toMatchObject({ before: 0, after: 1 });
    expect(change("orchestrator", "leases", `${RUN}:o34`)).toMatchObject({ kind: "removed" });
    expect(change("orchestrator", "retry", 0)).toEqual({ path: ["orchestrator", "retry", 0], kind: "added", after: { microbatch: 6, batch: 572381, attempt: 1 } });
    expect(change("orchestrator", "merges", MERGE, "partitions", 0, "reducers")).toMatchObject({ kind: "changed", before: [KILLED, PARTNER], after: [KILLED, PARTNER, STAGE2[0]] });
    expect(change("orchestrator", "stages", 0, "miners")).toMatchObject({ before: [KILLED, PARTNER], after: [PARTNER] });
    expect(change("workers", KILLED, "state")).toMatchObject({ before: { merging: "exchanging" }, after: "gone" } as object);
    expect(d.changes.some((c) => c.path[0] === "position")).toBe(false);
    expect(diffSnapshots(at({ seq: 300 }), at({ seq: 300 })).changes).toEqual([]);
  });
});

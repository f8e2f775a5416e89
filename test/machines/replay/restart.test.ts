// Time travel over the pure simulator's runs, whose ids and timing come from the same worker
// machine: a miner killed and restarted gets a new machine for its new session, and merges that
// hold work (no overlap) show it held.
import { Result } from "effect";
import { describe, expect, it } from "vitest";
import type { Envelope } from "../../../src/events/envelope.js";
import type { LogEntry } from "../../../src/events/jsonl.js";
import { swarmVersion, type SwarmFact } from "../../../src/events/swarm/index.js";
import { type At, Replayer, type RunSnapshot, snapshotAt, type WorkerMachineSnapshot } from "../../../src/machines/replay/index.js";
import { simulate } from "../../../src/machines/sim/index.js";
import { miners, simOptions } from "../support.js";

/** A simulated log as exported entries: stream seq = log position (unsigned: replay does not verify). */
const asEntries = (log: readonly SwarmFact[]): LogEntry[] =>
  log.map((f, i) => ({
    seq: i + 1,
    event: { id: f.id, type: f.type, v: swarmVersion(f.type), run: "r1", actor: f.actor, seq: f.seq, prev: "", cause: f.cause, step: f.step, at: 0, payload: f.payload, hash: "" } as Envelope,
  }));

const at = (es: readonly LogEntry[], a: At): RunSnapshot => {
  const r = snapshotAt(es, a);
  if (Result.isFailure(r)) throw new Error(JSON.stringify(r.failure));
  return r.success;
};
const machine = (s: RunSnapshot, m: string): WorkerMachineSnapshot => {
  const w = s.workers[m];
  if (w?.reconstructed !== true) throw new Error(`no machine for ${m}`);
  return w;
};

describe("replay of a simulated run", () => {
  const r = simulate(simOptions({ maxTicks: 800, miners: miners(6).map((m) => (m.id === "m00" ? { ...m, killTick: 5, rejoinAfter: 10 } : m)) }));
  const entries = asEntries(r.log);
  const joins = entries.filter((e) => e.event.type === "MinerJoined" && e.event.actor === "m00");

  it("gives a restarted miner a new machine for its new session, from its own MinerJoined", () => {
    expect(joins.map((e) => e.event.id)).toEqual(["r1:m00:s0:1", "r1:m00:s1:1"]);
    const second = joins[1] as LogEntry;
    const before = at(entries, { seq: second.seq - 1 });
    expect(before.orchestrator?.miners["m00"]?.status).toBe("gone");
    expect(machine(before, "m00")).toMatchObject({ session: "s0", sessions: 1, state: "gone" });
    const after = at(entries, { seq: second.seq });
    expect(machine(after, "m00")).toMatchObject({ session: "s1", sessions: 2, joinedAt: second.seq, state: "joining", listening: true, logged: 1, published: 1 });
    const end = at(entries, { seq: entries.length });
    const own = r.log.filter((f) => f.actor === "m00" && f.id.startsWith("r1:m00:s1:"));
    expect(machine(end, "m00")).toMatchObject({ session: "s1", logged: own.length, published: own.length });
  });

  it("rebuilds every machine so that it published exactly the facts its session logged", () => {
    const end = at(entries, { seq: entries.length });
    expect(end.orchestrator?.done).toBe(true);
    for (const [m, w] of Object.entries(end.workers)) {
      if (!w.reconstructed) throw new Error(m);
      expect(w.logged).toBe(r.log.filter((f) => f.id.startsWith(`r1:${m}:${w.session}:`)).length);
      expect(w.published).toBe(w.logged);
      expect(w.unlogged).toEqual({});
    }
  });

  it("shows work held while a stage merges without overlap, and the stage's machines merging", () => {
    const started = entries.find((e) => e.event.type === "MergeStarted") as LogEntry;
    const merge = started.event.id;
    const completed = entries.find((e) => e.event.type === "MergeCompleted" && (e.event.payload as { merge: string }).merge === merge) as LogEntry;
    expect(started.seq).toBeLessThan(completed.seq);
    const replayer = Replayer.of(entries, 16);
    if (Result.isFailure(replayer)) throw new Error("decodes");
    const points = entries.filter((e) => e.seq >= started.seq && e.seq < completed.seq).map((e) => {
      const s = replayer.success.snapshotAt({ seq: e.seq });
      if (Result.isFailure(s)) throw new Error("in the log");
      return s.success;
    });
    const { stage, participants } = started.event.payload as { stage: number; participants: { miner: string }[] };
    // Through the whole merge every participant's machine is merging (exchanging, then loading the result) and names it.
    for (const s of points) for (const q of participants) {
      const w = machine(s, q.miner);
      expect(w.stage).toBe(stage);
      expect(Object.keys(w.state as object)).toEqual(["merging"]);
      expect(w.merge).toBe(merge);
    }
    // Work that reached a participant meanwhile is held, not run (the run does not overlap merges).
    const held = points.map((s) => participants.reduce((n, q) => n + machine(s, q.miner).held, 0));
    expect(held[0]).toBe(0);
    expect(Math.max(...held)).toBe(3);
    expect(machine(at(entries, { seq: completed.seq + 40 }), (participants[0] as { miner: string }).miner).held).toBe(0);
  });
});

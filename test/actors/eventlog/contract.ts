// The EventLog contract: one suite, run against the in-memory log (contract.memory.test.ts) and
// the NATS log on a real nats-server (contract.nats.int.test.ts). Envelopes are built by hand:
// the EventLog stores and orders them; checking them is the IngestGate's job.
import { Effect, Fiber, Layer, Stream } from "effect";
import { describe, expect, it } from "vitest";
import type { Envelope } from "../../../src/events/envelope.js";
import { AppendConflict, AppendRejected } from "../../../src/actors/eventlog/errors.js";
import { EventLog } from "../../../src/actors/eventlog/service.js";

let runCounter = 0;
/** A run id unique within the process, so tests sharing one server do not see each other. */
export const freshRun = (): string => `r${process.pid}x${++runCounter}`;

/** A hand-built envelope: well-formed, not signed (the log does not check). */
export const env = (run: string, actor: string, seq: number, id = `${run}-${actor}-${seq}`): Envelope => ({
  id,
  type: "TestHappened",
  v: 1,
  run,
  actor,
  seq,
  prev: "0".repeat(64),
  cause: [],
  step: seq,
  at: 0,
  payload: { n: seq, text: "x".repeat(40) },
  hash: "f".repeat(64),
});

const envs = (run: string, actor: string, from: number, n: number): Envelope[] =>
  Array.from({ length: n }, (_, i) => env(run, actor, from + i));

export const eventLogContract = (name: string, layer: () => Layer.Layer<EventLog>): void => {
  const run = <A, E>(program: Effect.Effect<A, E, EventLog>): Promise<A> =>
    Effect.runPromise(Effect.provide(program, layer()));

  describe(`EventLog contract (${name})`, () => {
    it("returns stream sequences in append order and replays every actor's facts in stream order", async () => {
      const r = freshRun();
      const { seqs, read } = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          const a = yield* log.append(r, "alice", envs(r, "alice", 1, 3));
          const b = yield* log.append(r, "bob", envs(r, "bob", 1, 2));
          const c = yield* log.append(r, "alice", envs(r, "alice", 4, 1));
          return { seqs: [...a, ...b, ...c], read: yield* Stream.runCollect(log.read(r)) };
        }),
      );
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
      expect(read.map((e) => [e.seq, e.envelope.actor, e.envelope.seq])).toEqual([
        [1, "alice", 1], [2, "alice", 2], [3, "alice", 3], [4, "bob", 1], [5, "bob", 2], [6, "alice", 4],
      ]);
      expect(read[0]?.envelope).toEqual(env(r, "alice", 1));
    });

    it("deduplicates a retried append by event id and returns the original sequences", async () => {
      const r = freshRun();
      const out = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          const batch = envs(r, "alice", 1, 4);
          const first = yield* log.append(r, "alice", batch);
          yield* log.append(r, "bob", envs(r, "bob", 1, 1));
          const again = yield* log.append(r, "alice", batch, { expectedLastSubjectSeq: 0 });
          return { first, again, last: yield* log.lastSeq(r) };
        }),
      );
      expect(out.again).toEqual(out.first);
      expect(out.last).toBe(5);
    });

    it("completes a partly stored batch on retry: the stored part keeps its sequences, the rest follows", async () => {
      const r = freshRun();
      const out = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          const batch = envs(r, "alice", 1, 20);
          const part = yield* log.append(r, "alice", batch.slice(0, 8), { expectedLastSubjectSeq: 0 });
          const all = yield* log.append(r, "alice", batch, { expectedLastSubjectSeq: 0 });
          const read = yield* Stream.runCollect(log.read(r));
          return { part, all, read: read.map((e) => e.envelope.seq) };
        }),
      );
      expect(out.all.slice(0, 8)).toEqual(out.part);
      expect(out.all).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(out.read).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });

    it("appends with the expected last subject sequence, per actor, and ignores other actors' appends", async () => {
      const r = freshRun();
      const seqs = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          const a = yield* log.append(r, "alice", envs(r, "alice", 1, 2), { expectedLastSubjectSeq: 0 });
          yield* log.append(r, "bob", envs(r, "bob", 1, 3), { expectedLastSubjectSeq: 0 });
          const b = yield* log.append(r, "alice", envs(r, "alice", 3, 2), { expectedLastSubjectSeq: 2 });
          return [...a, ...b];
        }),
      );
      expect(seqs).toEqual([1, 2, 6, 7]);
    });

    it("refuses a stale expectation with AppendConflict and writes none of the batch", async () => {
      const r = freshRun();
      const out = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          yield* log.append(r, "alice", envs(r, "alice", 1, 2));
          const err = yield* Effect.flip(
            log.append(r, "alice", envs(r, "alice", 3, 5, ), { expectedLastSubjectSeq: 1 }),
          );
          const fresh = yield* Effect.flip(log.append(r, "carol", envs(r, "carol", 1, 1), { expectedLastSubjectSeq: 3 }));
          return { err, fresh, last: yield* log.lastSeq(r), alice: yield* log.lastSubjectSeq(r, "alice") };
        }),
      );
      expect(out.err).toBeInstanceOf(AppendConflict);
      expect(out.err).toMatchObject({ _tag: "AppendConflict", run: r, actor: "alice", expected: 1, actual: 2 });
      expect(out.fresh).toMatchObject({ _tag: "AppendConflict", expected: 3, actual: 0 });
      expect(out.last).toBe(2);
      expect(out.alice).toBe(2);
    });

    it("tracks each actor's last subject sequence, 0 for an actor or run never seen", async () => {
      const r = freshRun();
      const out = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          const none = yield* log.lastSubjectSeq(r, "alice");
          const noRun = yield* log.lastSeq(r);
          yield* log.append(r, "alice", envs(r, "alice", 1, 2));
          yield* log.append(r, "bob", envs(r, "bob", 1, 1));
          return {
            none, noRun,
            alice: yield* log.lastSubjectSeq(r, "alice"),
            bob: yield* log.lastSubjectSeq(r, "bob"),
            dave: yield* log.lastSubjectSeq(r, "dave"),
            last: yield* log.lastSeq(r),
          };
        }),
      );
      expect(out).toEqual({ none: 0, noRun: 0, alice: 2, bob: 3, dave: 0, last: 3 });
    });

    it("reads a range of sequences, and an unknown run as empty", async () => {
      const r = freshRun();
      const out = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          yield* log.append(r, "alice", envs(r, "alice", 1, 10));
          const mid = yield* Stream.runCollect(log.read(r, { fromSeq: 4, toSeq: 6 }));
          const tail = yield* Stream.runCollect(log.read(r, { fromSeq: 9 }));
          const past = yield* Stream.runCollect(log.read(r, { fromSeq: 11 }));
          const none = yield* Stream.runCollect(log.read(freshRun()));
          const raw = yield* Stream.runCollect(log.readRaw(r, { fromSeq: 10 }));
          return { mid: mid.map((e) => e.seq), tail: tail.map((e) => e.seq), past: past.length, none: none.length, raw };
        }),
      );
      expect(out.mid).toEqual([4, 5, 6]);
      expect(out.tail).toEqual([9, 10]);
      expect(out.past).toBe(0);
      expect(out.none).toBe(0);
      expect(out.raw).toHaveLength(1);
      expect(out.raw[0]?.subject).toContain(r);
      expect(JSON.parse(new TextDecoder().decode(out.raw[0]?.data))).toEqual(env(r, "alice", 10));
    });

    it("reads one actor's subject within a range, skipping the others'", async () => {
      const r = freshRun();
      const seqs = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          yield* log.append(r, "alice", envs(r, "alice", 1, 2));
          yield* log.append(r, "bob", envs(r, "bob", 1, 2));
          yield* log.append(r, "alice", envs(r, "alice", 3, 2));
          const raw = yield* Stream.runCollect(log.readRaw(r, { fromSeq: 2, toSeq: 5, actor: "alice" }));
          const read = yield* Stream.runCollect(log.read(r, { actor: "bob" }));
          return { raw: raw.map((e) => e.seq), read: read.map((e) => e.seq) };
        }),
      );
      expect(seqs).toEqual({ raw: [2, 5], read: [3, 4] });
    });

    it("keeps the order of a large batch", async () => {
      const r = freshRun();
      const out = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          const seqs = yield* log.append(r, "alice", envs(r, "alice", 1, 5000), { expectedLastSubjectSeq: 0 });
          const read = yield* Stream.runCollect(log.read(r));
          return { seqs, read: read.map((e) => e.envelope.seq) };
        }),
      );
      expect(out.seqs).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
      expect(out.read).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
    });

    it("subscribes from a sequence: the facts already there, then new appends as they happen", async () => {
      const r = freshRun();
      const got = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          yield* log.append(r, "alice", envs(r, "alice", 1, 3));
          const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(log.subscribe(r, { fromSeq: 2 }), 4)));
          yield* log.append(r, "bob", envs(r, "bob", 1, 1));
          yield* log.append(r, "alice", envs(r, "alice", 4, 2));
          return yield* Fiber.join(fiber);
        }),
      );
      expect(got.map((e) => [e.seq, e.envelope.actor, e.envelope.seq])).toEqual([
        [2, "alice", 2], [3, "alice", 3], [4, "bob", 1], [5, "alice", 4],
      ]);
    });

    it("refuses envelopes of another actor or run, and bad subject tokens, with AppendRejected", async () => {
      const r = freshRun();
      const out = await run(
        Effect.gen(function* () {
          const log = yield* EventLog;
          const other = yield* Effect.flip(log.append(r, "alice", [env(r, "bob", 1)]));
          const run2 = yield* Effect.flip(log.append(r, "alice", [env("elsewhere", "alice", 1)]));
          const token = yield* Effect.flip(log.append(r, "al.ice", []));
          return { other, run2, token, empty: yield* log.append(r, "alice", []), last: yield* log.lastSeq(r) };
        }),
      );
      expect(out.other).toBeInstanceOf(AppendRejected);
      expect(out.run2).toBeInstanceOf(AppendRejected);
      expect(out.token).toBeInstanceOf(AppendRejected);
      expect(out.empty).toEqual([]);
      expect(out.last).toBe(0);
    });
  });
};

// The in-memory EventLog: the same contract as the NATS one (dedup by event id, per-actor
// expected-last-subject-sequence, stream order, live subscribe) for fast tests and simulations.
import { Effect, Layer, Queue, Stream } from "effect";
import { subjects } from "../../events/subjects.js";
import type { Envelope } from "../../events/envelope.js";
import { AppendConflict, type AppendRejected } from "./errors.js";
import { checkAppend, decodeEntry, encodeEnvelope } from "./codec.js";
import { EventLog, type EventLogShape, type RawEntry } from "./service.js";

interface RunLog {
  readonly entries: RawEntry[];
  readonly lastBySubject: Map<string, number>;
  readonly seqById: Map<string, number>;
  readonly listeners: Set<(e: RawEntry) => void>;
}

/** A fresh, empty in-memory log (each layer build gets its own). */
export const makeMemoryEventLog = (): EventLogShape => {
  const runs = new Map<string, RunLog>();
  const runLog = (run: string): RunLog => {
    let r = runs.get(run);
    if (r === undefined) {
      r = { entries: [], lastBySubject: new Map(), seqById: new Map(), listeners: new Set() };
      runs.set(run, r);
    }
    return r;
  };

  const store = (r: RunLog, subject: string, e: Envelope): number => {
    const dup = r.seqById.get(e.id);
    if (dup !== undefined) return dup;
    const entry: RawEntry = { seq: r.entries.length + 1, subject, data: encodeEnvelope(e) };
    r.entries.push(entry);
    r.lastBySubject.set(subject, entry.seq);
    r.seqById.set(e.id, entry.seq);
    for (const l of r.listeners) l(entry);
    return entry.seq;
  };

  const rawRange = (run: string, from: number, to: number): RawEntry[] =>
    (runs.get(run)?.entries ?? []).slice(Math.max(0, from - 1), Math.max(0, to));

  const readRaw: EventLogShape["readRaw"] = (run, options = {}) =>
    Stream.suspend(() => {
      const end = Math.min(options.toSeq ?? Number.MAX_SAFE_INTEGER, runs.get(run)?.entries.length ?? 0);
      const range = rawRange(run, options.fromSeq ?? 1, end);
      const only = options.actor === undefined ? undefined : subjects.facts(run, options.actor);
      return Stream.fromArray(only === undefined ? range : range.filter((e) => e.subject === only));
    });

  return {
    append: (run, actor, envelopes, options = {}) =>
      Effect.suspend((): Effect.Effect<readonly number[], AppendConflict | AppendRejected> => {
        const bad = checkAppend(run, actor, envelopes);
        if (bad !== undefined) return Effect.fail(bad);
        const subject = subjects.facts(run, actor);
        const r = runLog(run);
        const first = envelopes[0];
        const expected = options.expectedLastSubjectSeq;
        // Dedup comes before the expectation check, as in JetStream: a retried append succeeds.
        if (first !== undefined && expected !== undefined && !r.seqById.has(first.id)) {
          const actual = r.lastBySubject.get(subject) ?? 0;
          if (actual !== expected) {
            return Effect.fail(
              new AppendConflict({ run, actor, expected, actual, message: `wrong last sequence: ${actual}` }),
            );
          }
        }
        return Effect.succeed(envelopes.map((e) => store(r, subject, e)));
      }),
    read: (run, options) => readRaw(run, options).pipe(Stream.mapEffect((e) => decodeEntry(run, e))),
    readRaw,
    subscribe: (run, options = {}) =>
      Stream.callback<RawEntry>((queue) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            const r = runLog(run);
            for (const e of rawRange(run, options.fromSeq ?? 1, r.entries.length)) Queue.offerUnsafe(queue, e);
            const listener = (e: RawEntry): void => {
              if (e.seq >= (options.fromSeq ?? 1)) Queue.offerUnsafe(queue, e);
            };
            r.listeners.add(listener);
            return () => r.listeners.delete(listener);
          }),
          (remove) => Effect.sync(remove),
        ),
      ).pipe(Stream.mapEffect((e) => decodeEntry(run, e))),
    lastSubjectSeq: (run, actor) =>
      Effect.sync(() => runs.get(run)?.lastBySubject.get(subjects.facts(run, actor)) ?? 0),
    lastSeq: (run) => Effect.sync(() => runs.get(run)?.entries.length ?? 0),
  };
};

/** The in-memory EventLog as a layer: every build starts empty. */
export const layerMemory = (): Layer.Layer<EventLog> => Layer.sync(EventLog, makeMemoryEventLog);

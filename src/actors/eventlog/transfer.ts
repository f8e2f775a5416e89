// Export and import of a run's log as JSONL (src/events/jsonl.ts): the stream order and stream
// sequences are kept, so an auditor sees a removed, reordered or duplicated event.
import { Effect, Result, Schema, Stream } from "effect";
import type { Envelope } from "../../events/envelope.js";
import { formatLogHeader, type LogEntry as LogLine, parseLogLines } from "../../events/jsonl.js";
import { vocabularyRegistry } from "../../events/vocabulary.js";
import { nodeCrypto } from "../identity/index.js";
import type { AppendConflict, AppendRejected, NatsUnavailable } from "./errors.js";
import { ExportGate } from "./export-gate.js";
import { EventLog, type RawEntry, type ReadError } from "./service.js";

/** The file is not a log this build can import, or does not fit the run's current log. */
export class ImportRefused extends Schema.TaggedError<ImportRefused>()("ImportRefused", {
  line: Schema.Number,
  message: Schema.String,
}) {}


export interface ExportOptions {
  /** Stored messages above this many bytes are refused, as the readers' ingest gate refuses them (default: no limit). */
  readonly maxBytes?: number;
  /**
   * Copies of facts the stream lost, by the stream sequence they stand for (refill.ts
   * gatherRefills): each fills its hole. A hole without one is written as a refused line, reason "Deleted".
   */
  readonly refills?: ReadonlyMap<number, readonly RawEntry[]>;
}

export interface ExportSummary {
  /** Events written. */
  readonly events: number;
  /** Stored messages refused (written as refused lines). */
  readonly refused: number;
  /** The refused ones by the ingest gate's reason. */
  readonly reasons: Readonly<Record<string, number>>;
  /** Holes in the stream filled with a producer's copy. */
  readonly refilled: number;
  /** Holes nothing filled (their stream sequences; refused lines, reason "Deleted"). */
  readonly deleted: readonly number[];
}

/**
 * Writes the run's whole log (as it stands when the export starts) through `write`, one line at
 * a time without newlines: the header, then `{"seq":N,"event":...}` in stream order. The event
 * text is the stored bytes as they are, so the export is byte-faithful. Every message passes the
 * ingest gate the live readers use: one it refuses (garbage or a forgery anyone could publish on
 * an actor's subject) becomes `{"seq":N,"refused":{subject,reason,detail}}`, so the file still
 * accounts for every stream sequence and one foreign message cannot spoil the export. An unsigned
 * event is written once a signature covers it; one that none covers (a forged fork, a dead
 * process's tail) is refused too: nothing vouches for it.
 */
export const exportLog = (
  run: string,
  write: (lines: readonly string[]) => void,
  o: ExportOptions = {},
): Effect.Effect<ExportSummary, NatsUnavailable, EventLog> =>
  Effect.gen(function* () {
    const log = yield* EventLog;
    const gate = new ExportGate(nodeCrypto, vocabularyRegistry(), run, o.maxBytes ?? Number.MAX_SAFE_INTEGER, o.refills);
    // The stream's end now, read exactly up to it: the header promises what the file holds.
    const last = yield* log.lastSeq(run);
    write([formatLogHeader(run, last)]);
    yield* log.readRaw(run, { toSeq: last }).pipe(
      Stream.runForEachArray((chunk) => {
        for (const e of chunk) gate.offer(e);
        const lines = gate.take();
        if (lines.length > 0) write(lines);
        return Effect.void;
      }),
    );
    const rest = gate.end(last);
    if (rest.length > 0) write(rest);
    return { events: gate.events, refused: gate.refused, reasons: gate.reasons, refilled: gate.refilled, deleted: gate.deleted };
  });

export interface ImportSummary {
  readonly run: string;
  /** Events in the file. */
  readonly events: number;
  /** Events already in the run (a resumed import), left as they were. */
  readonly skipped: number;
  /** Messages the export had refused: not imported (the events after them move down). */
  readonly refused: number;
}

/**
 * Appends an exported log's events to its run, in file order, so they get the same stream
 * sequences. The file must be a full export (seqs 1..N); the run must be empty or hold a prefix
 * of the file (a resumed import), and each actor's appends carry the expected last subject
 * sequence, so a concurrent writer makes the import fail rather than interleave.
 */
export const importLog = (
  lines: Iterable<string>,
): Effect.Effect<ImportSummary, ImportRefused | ReadError | AppendConflict | AppendRejected | NatsUnavailable, EventLog> =>
  Effect.gen(function* () {
    const parsed = parseLogLines(lines);
    if (Result.isFailure(parsed)) {
      const f = parsed.failure;
      return yield* new ImportRefused({ line: f.line, message: `${f.reason}: ${f.detail}` });
    }
    const { header, entries, refused } = parsed.success;
    const run = header.run;
    const held = entries.length + refused.length;
    if (header.last !== undefined && held !== header.last)
      return yield* new ImportRefused({ line: 1, message: `the header records ${header.last} stream messages, the file holds ${held}: it is truncated or padded` });
    // Events and refused messages together must be seqs 1..N, in order; refused ones are not
    // imported, so the events after them get lower stream sequences in the new run.
    const fileSeqs = [...entries.map((e) => e.seq), ...refused.map((r) => r.seq)].sort((a, b) => a - b);
    for (let i = 0; i < fileSeqs.length; i++) {
      if (fileSeqs[i] !== i + 1) {
        return yield* new ImportRefused({ line: i + 2, message: `seq ${fileSeqs[i]} where ${i + 1} was expected: only a full export (seqs 1..N) can be imported` });
      }
    }
    const log = yield* EventLog;
    const existing = yield* log.lastSeq(run);
    if (existing > entries.length) {
      return yield* new ImportRefused({ line: 1, message: `run ${run} already holds ${existing} events, more than the file's ${entries.length}` });
    }
    if (existing > 0) {
      let i = 0;
      let mismatch: ImportRefused | undefined;
      yield* log.read(run, { toSeq: existing }).pipe(
        Stream.runForEach((stored) => {
          const want = entries[i] as LogLine;
          if (mismatch === undefined && (stored.seq !== i + 1 || stored.envelope.id !== want.event.id)) {
            mismatch = new ImportRefused({ line: i + 2, message: `run ${run} already holds a different event at seq ${stored.seq} (${stored.envelope.id})` });
          }
          i += 1;
          return Effect.void;
        }),
      );
      if (mismatch !== undefined) return yield* mismatch;
    }
    // Each actor's last stream seq so far, from the file itself: the appends' expectations.
    const lastOf = new Map<string, number>();
    entries.slice(0, existing).forEach((e, k) => lastOf.set(e.event.actor, k + 1));
    let i = existing;
    while (i < entries.length) {
      const actor = (entries[i] as LogLine).event.actor;
      let j = i;
      const batch: Envelope[] = [];
      while (j < entries.length && (entries[j] as LogLine).event.actor === actor) batch.push((entries[j++] as LogLine).event);
      const seqs = yield* log.append(run, actor, batch, { expectedLastSubjectSeq: lastOf.get(actor) ?? 0 });
      for (let k = 0; k < seqs.length; k++) {
        if (seqs[k] !== i + k + 1) {
          return yield* new ImportRefused({ line: i + k + 2, message: `stored at seq ${seqs[k]}, not ${i + k + 1}: another writer appended to run ${run} during the import` });
        }
      }
      lastOf.set(actor, j);
      i = j;
    }
    return { run, events: entries.length, skipped: existing, refused: refused.length };
  });

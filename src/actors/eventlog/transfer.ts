// Export and import of a run's log as JSONL (src/events/jsonl.ts): the stream order and stream
// sequences are kept, so an auditor sees a removed, reordered or duplicated event.
import { Effect, Result, Schema, Stream } from "effect";
import type { Envelope } from "../../events/envelope.js";
import { formatLogHeader, type LogEntry as LogLine, parseLogLines } from "../../events/jsonl.js";
import { type AppendConflict, type AppendRejected, type NatsUnavailable, UnreadableEntry } from "./errors.js";
import { EventLog, type ReadError } from "./service.js";

/** The file is not a log this build can import, or does not fit the run's current log. */
export class ImportRefused extends Schema.TaggedError<ImportRefused>()("ImportRefused", {
  line: Schema.Number,
  message: Schema.String,
}) {}

const decoder = new TextDecoder();

/**
 * Writes the run's whole log (as it stands when the export starts) through `write`, one line at
 * a time without newlines: the header, then `{"seq":N,"event":...}` in stream order. The event
 * text is the stored bytes as they are, so the export is byte-faithful. Resolves to the count.
 */
export const exportLog = (run: string, write: (lines: readonly string[]) => void): Effect.Effect<number, ReadError, EventLog> =>
  Effect.gen(function* () {
    const log = yield* EventLog;
    write([formatLogHeader(run)]);
    let count = 0;
    yield* log.readRaw(run).pipe(
      Stream.runForEachArray((chunk) => {
        const lines: string[] = [];
        for (const e of chunk) {
          const text = decoder.decode(e.data);
          try {
            JSON.parse(text);
          } catch (err) {
            return Effect.fail(new UnreadableEntry({ run, seq: e.seq, subject: e.subject, message: String(err) }));
          }
          lines.push(`{"seq":${e.seq},"event":${text}}`);
        }
        count += lines.length;
        write(lines);
        return Effect.void;
      }),
    );
    return count;
  });

export interface ImportSummary {
  readonly run: string;
  /** Events in the file. */
  readonly events: number;
  /** Events already in the run (a resumed import), left as they were. */
  readonly skipped: number;
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
    const { header, entries } = parsed.success;
    const run = header.run;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as LogLine;
      if (e.seq !== i + 1) {
        return yield* new ImportRefused({ line: i + 2, message: `seq ${e.seq} where ${i + 1} was expected: only a full export (seqs 1..N) can be imported` });
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
          if (mismatch === undefined && (stored.seq !== want.seq || stored.envelope.id !== want.event.id)) {
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
    for (const e of entries.slice(0, existing)) lastOf.set(e.event.actor, e.seq);
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
    return { run, events: entries.length, skipped: existing };
  });

// A producer's journal: every fact an actor's writer got stored, with the facts-stream sequence the
// bus acknowledged, appended to a local JSONL file (the exported log's line format, one actor's
// lines). When the bus loses facts, readers ask for them by stream sequence and the producer
// re-publishes them from here (actors/nats/refill.ts). The file is written after each acknowledged
// batch and read back at start, so a restarted producer still answers for its earlier sessions.
//
// Durability: appendFileSync hands the bytes to the OS, so a crash of the process loses nothing; a
// power failure of the producer's machine can lose the last lines (no fsync per batch), which is
// what a journal on the same machine as a lost bus node could not help with anyway.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Result } from "effect";
import type { Envelope } from "../../events/envelope.js";
import { parseLogLine } from "../../events/jsonl.js";
import type { NatsConnection } from "../nats/connection.js";
import { type BadRefillRequest, type RefillServer, type RefillSource, serveRefills } from "../nats/refill.js";

/** One journaled fact: where the bus stored it, its chain position and id, and its text as published. */
export interface JournalEntry {
  readonly streamSeq: number;
  readonly seq: number;
  readonly id: string;
  readonly text: string;
}

/** The journal file of `actor` in `run` under `dir`. */
export const journalFile = (dir: string, run: string, actor: string): string => join(dir, run, `${actor}.jsonl`);

export class FactJournal implements RefillSource {
  private readonly byStream = new Map<number, JournalEntry>();
  /** Lines at the end of the file that could not be read at open (a write torn by a crash). */
  readonly unreadable: number;

  private constructor(
    readonly actor: string,
    readonly file: string,
  ) {
    let bad = 0;
    if (existsSync(file)) {
      const lines = readFileSync(file, "utf8").split("\n");
      lines.forEach((text, i) => {
        if (text.trim() === "") return;
        const r = parseLogLine(text, i + 1);
        if (Result.isFailure(r) || r.success.event.actor !== actor) {
          bad += 1;
          return;
        }
        const { seq: streamSeq, event } = r.success;
        // The event's text as written (record's layout): `{"seq":N,"event":<text>}`.
        const at = text.indexOf('"event":');
        this.byStream.set(streamSeq, { streamSeq, seq: event.seq, id: event.id, text: text.slice(at + 8, text.lastIndexOf("}")) });
      });
    }
    this.unreadable = bad;
  }

  /** Opens (or creates) the journal of `actor` at `file`, reading what earlier sessions wrote. */
  static open(actor: string, file: string): FactJournal {
    mkdirSync(dirname(file), { recursive: true });
    return new FactJournal(actor, file);
  }

  /** Facts journaled so far. */
  get size(): number {
    return this.byStream.size;
  }

  /** Journals a stored batch: `envelopes[i]` was acknowledged at stream sequence `streamSeqs[i]`. */
  record(envelopes: readonly Envelope[], streamSeqs: readonly number[]): void {
    const lines: string[] = [];
    envelopes.forEach((e, i) => {
      const streamSeq = streamSeqs[i];
      if (streamSeq === undefined) return;
      const text = JSON.stringify(e);
      this.byStream.set(streamSeq, { streamSeq, seq: e.seq, id: e.id, text });
      lines.push(`{"seq":${streamSeq},"event":${text}}\n`);
    });
    if (lines.length > 0) appendFileSync(this.file, lines.join(""));
  }

  lookup(streamSeqs: readonly number[]): JournalEntry[] {
    const out: JournalEntry[] = [];
    for (const s of streamSeqs) {
      const e = this.byStream.get(s);
      if (e !== undefined) out.push(e);
    }
    return out;
  }
}

/** An actor's journal, answering the run's refill requests until stopped. */
export interface ServedJournal {
  readonly journal: FactJournal;
  readonly server: RefillServer;
  stop(): void;
}

/** Opens `actor`'s journal under `dir` and answers refill requests from it on `nc`. */
export const serveJournal = (nc: NatsConnection, run: string, actor: string, dir: string, onBadRequest?: (e: BadRefillRequest) => void): ServedJournal => {
  const journal = FactJournal.open(actor, journalFile(dir, run, actor));
  const server = serveRefills(nc, run, journal, onBadRequest);
  return { journal, server, stop: () => server.stop() };
};

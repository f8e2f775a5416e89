// A producer's journal: every fact an actor's writer got stored, with the facts-stream sequence the
// bus acknowledged, appended to a local JSONL file (the exported log's line format, one actor's
// lines). When the bus loses facts, readers ask for them by stream sequence and the producer
// re-publishes them from here (actors/nats/refill.ts). The file is written after each acknowledged
// batch and read back at start, so a restarted producer still answers for its earlier sessions.
//
// Durability: each batch is written to the OS at once (a crash of the process loses nothing) and
// then flushed to the disk with fdatasync off the event loop, one flush at a time covering every
// batch written before it began, so a power failure of the producer's machine loses at most the
// batches of the last ~millisecond (`synced()` waits for them) and the writer never waits on a disk.
import { closeSync, existsSync, fdatasync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
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
  /** The file, open for appending from the first batch on. */
  private fd: number | undefined;
  /** The flush in progress, and whether batches were written since it began. */
  private flushing: Promise<void> | undefined;
  private dirty = false;
  private flushError: Error | undefined;
  /** Lines known to be on the disk (fdatasync returned after they were written). */
  private durableLines = 0;
  private writtenLines = 0;
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
    if (lines.length === 0) return;
    this.fd ??= openSync(this.file, "a");
    writeSync(this.fd, lines.join(""));
    this.writtenLines += lines.length;
    this.flush();
  }

  /** Starts a flush unless one runs; one that runs flushes again when batches came meanwhile. */
  private flush(): void {
    this.dirty = true;
    if (this.flushing !== undefined) return;
    const fd = this.fd;
    if (fd === undefined) return;
    this.flushing = (async () => {
      while (this.dirty) {
        this.dirty = false;
        const upTo = this.writtenLines;
        await new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e === null ? resolve() : reject(e))));
        this.durableLines = upTo;
      }
    })()
      .catch((e: unknown) => { this.flushError = e instanceof Error ? e : new Error(String(e)); })
      .finally(() => { this.flushing = undefined; });
  }

  /** Lines written by this session, and of those the ones known to be on the disk. */
  get lines(): { readonly written: number; readonly durable: number } {
    return { written: this.writtenLines, durable: this.durableLines };
  }

  /** Resolves once every batch recorded so far is on the disk; rejects with the flush's error if one failed. */
  async synced(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
    if (this.flushError !== undefined) throw this.flushError;
  }

  /** Flushes what is recorded and closes the file (a later record opens it again); rejects with a failed flush's error. */
  async close(): Promise<void> {
    try {
      await this.synced();
    } finally {
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
    }
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
  /** Stops answering and closes the journal once what it recorded is on the disk. */
  stop(): Promise<void>;
}

/** Opens `actor`'s journal under `dir` and answers refill requests from it on `nc`. */
export const serveJournal = (nc: NatsConnection, run: string, actor: string, dir: string, onBadRequest?: (e: BadRefillRequest) => void): ServedJournal => {
  const journal = FactJournal.open(actor, journalFile(dir, run, actor));
  const server = serveRefills(nc, run, journal, onBadRequest);
  return { journal, server, stop: async () => { server.stop(); await journal.close(); } };
};

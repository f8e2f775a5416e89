// The export's judge of stored messages: the readers' IngestGate, with its verdicts kept in stream
// order. An unsigned event waits (as the gate holds it) until a signature covers it, a signed fork
// drops it, or the log ends; only then is its line written, as an event or as refused. A stream
// sequence with no message (the bus lost it) gets its producer's re-published copy, else a
// refused line that names the loss.
import type { CryptoSuite } from "../../events/crypto.js";
import { IngestGate, type IngestResult } from "../../events/ingest.js";
import { DELETED, formatRefusedLine } from "../../events/jsonl.js";
import type { EventRegistry } from "../../events/registry.js";
import type { RawEntry } from "./service.js";

/** An unsigned event the gate holds, and where its line goes. */
interface Held {
  readonly actor: string;
  readonly hash: string;
  readonly entry: RawEntry;
  readonly slot: number;
}

const decoder = new TextDecoder();

/**
 * Feeds stored messages in stream order (`offer`) and hands back the lines that are decided, in
 * stream order (`take`; `end` decides the rest). Events are the stored bytes as they are.
 */
export class ExportGate {
  private readonly gate: IngestGate;
  /** Lines from stream position `base` on; undefined: an unsigned event not yet decided. */
  private readonly lines: (string | undefined)[] = [];
  private base = 0;
  /** Undecided unsigned events by event id. */
  private readonly held = new Map<string, Held>();
  /** The next stream sequence a line is due for. */
  private next = 1;
  events = 0;
  refused = 0;
  /** Holes filled with a copy from a producer's journal. */
  refilled = 0;
  /** Holes no copy filled (written as refused lines with reason "Deleted"). */
  readonly deleted: number[] = [];
  readonly reasons: Record<string, number> = {};

  /**
   * @param refills copies of facts the stream lost, by the stream sequence they stand for
   *   (refill.ts): a hole gets the first copy the gate accepts, so the file reads as the log was.
   */
  constructor(crypto: CryptoSuite, registry: EventRegistry, run: string, maxBytes: number, private readonly refills: ReadonlyMap<number, readonly RawEntry[]> = new Map()) {
    this.gate = new IngestGate(crypto, registry, { run, maxBytes });
  }

  /** The next stored message, in stream order; the holes before it are filled first. */
  offer(e: RawEntry): void {
    this.fillTo(e.seq - 1);
    this.judge(e);
    this.next = e.seq + 1;
  }

  /** Lines for the holes up to `seq`: a copy the gate accepts, else a refused line naming the loss. */
  private fillTo(seq: number): void {
    for (; this.next <= seq; this.next++) {
      const at = this.next;
      let filled = false;
      // A copy is judged like any message; a bad one (a forgery, another fact) is passed over.
      for (const c of this.refills.get(at) ?? []) {
        const r = this.gate.offer(c.data);
        if (r._tag === "Rejected") continue;
        this.refilled += 1;
        this.apply({ seq: at, subject: c.subject, data: c.data }, r);
        filled = true;
        break;
      }
      if (filled) continue;
      this.deleted.push(at);
      this.lines.push(this.refuse({ seq: at, subject: "", data: new Uint8Array() }, DELETED, `stream seq ${at} holds no message (the bus lost it or it was deleted) and no producer's journal refilled it`));
    }
  }

  private judge(e: RawEntry): void {
    this.apply(e, this.gate.offer(e.data));
  }

  private apply(e: RawEntry, r: IngestResult): void {
    if (r._tag === "Rejected") {
      this.lines.push(this.refuse(e, r.error._tag, r.error.detail));
      return;
    }
    if (r._tag === "Held") {
      // The gate read it as an envelope already; these fields follow it to its verdict.
      const { actor, hash, id } = JSON.parse(decoder.decode(e.data)) as { actor: string; hash: string; id: string };
      this.held.set(id, { actor, hash, entry: e, slot: this.base + this.lines.length });
      this.lines.push(undefined);
      return;
    }
    this.lines.push(this.event(e));
    const actors = new Set<string>();
    for (const ev of r.events) {
      actors.add(ev.actor);
      const h = this.held.get(ev.id);
      if (h === undefined) continue;
      this.held.delete(ev.id);
      this.set(h, this.event(h.entry));
    }
    // A signature that picked one branch dropped the actor's other candidates: forks, refused.
    for (const [id, h] of this.held)
      if (actors.has(h.actor) && !this.gate.holds(h.actor, h.hash)) {
        this.held.delete(id);
        this.set(h, this.refuse(h.entry, "Unsigned", `an unsigned event of actor ${h.actor} on a branch its signed chain did not take (a fork)`));
      }
  }

  /** The decided lines at the front, in stream order. */
  take(): string[] {
    let n = 0;
    while (n < this.lines.length && this.lines[n] !== undefined) n++;
    this.base += n;
    return this.lines.splice(0, n) as string[];
  }

  /**
   * At the log's end (`last`: the stream's last sequence when the export began): the holes up to it
   * are filled, and unsigned events no signature covered are refused, so every line is decided.
   */
  end(last: number): string[] {
    this.fillTo(last);
    for (const h of this.held.values()) this.set(h, this.refuse(h.entry, "Unsigned", `an unsigned event of actor ${h.actor} that no signature covers`));
    this.held.clear();
    return this.take();
  }

  private set(h: Held, line: string): void {
    this.lines[h.slot - this.base] = line;
  }

  private event(e: RawEntry): string {
    this.events += 1;
    return `{"seq":${e.seq},"event":${decoder.decode(e.data)}}`;
  }

  private refuse(e: RawEntry, reason: string, detail: string): string {
    this.refused += 1;
    this.reasons[reason] = (this.reasons[reason] ?? 0) + 1;
    return formatRefusedLine({ seq: e.seq, refused: { subject: e.subject, reason, detail } });
  }
}

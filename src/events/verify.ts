// The auditor's check of a whole exported log: stream order, envelope shape, schemas, hashes,
// per-actor chains and certificates, causes, duplicates and signatures. Names the first bad event.
import { Result } from "effect";
import { canonicalBodyLength } from "./canonical.js";
import { readCanonical } from "./canonical-read.js";
import type { CryptoSuite } from "./crypto.js";
import { type Envelope, SIGN_EVERY } from "./envelope.js";
import { DELETED, isBlank, type LogParseError, parseLogHeader, readLogEntry, readRefusedLine } from "./jsonl.js";
import { type ActorHead, checkContent, type Fault, isFault, linkEvent } from "./link.js";
import type { EventRegistry } from "./registry.js";
import { readEnvelope } from "./shape.js";

export type RejectReason =
  | LogParseError["reason"]
  | Fault["reason"]
  | "Duplicate"
  | "StreamOrder"
  | "StreamGap"
  | "NoEvents"
  /** A stream sequence whose fact the bus lost and no producer refilled (the export's "Deleted" line). */
  | "Lost"
  | "Truncated"
  | "UnknownCause"
  | "BadSignature"
  | "MissingSignature";

/** A verified log, or the first bad event: its line (`index`, 1-based, header = 1) and why. */
export type VerifyResult =
  | {
      readonly ok: true;
      readonly events: number;
      readonly actors: number;
      /** Stored messages the export refused (lines naming them in place of an event), when any. */
      readonly refused?: number;
    }
  | {
      readonly ok: false;
      readonly index: number;
      readonly eventId?: string;
      readonly actor?: string;
      /** The event's actor-local seq. */
      readonly seq?: number;
      readonly reason: RejectReason;
      readonly detail: string;
    };

export interface VerifyOptions {
  /**
   * Verify the ed25519 signature of every event that carries one. By default only chain heads
   * are verified (each actor's last event and every SIGN_EVERY-th): the hash chain makes a head's
   * signature cover its whole prefix, so content is authenticated either way, at a fraction of
   * the cost; only a corrupted signature on an already-covered event needs this flag to show.
   */
  readonly fullSignatures?: boolean;
  /** The run, when events are fed without a JSONL header (a replay straight from the stream). */
  readonly run?: string;
}

/** Per-actor state: the verified head and what is known about its signatures. */
interface Tail {
  head: ActorHead;
  id: string;
  index: number;
  sig: string | undefined;
  verified: boolean;
  /** Actor seq of the oldest event not yet covered by a verified or pending signature. */
  uncoveredFrom: number;
}

/**
 * An incremental verifier: feed it JSONL lines (`line`) or stream events (`event`), then read
 * `result()`. Feeding stops mattering after the first failure. O(1) work per event besides one
 * sha256, with one ed25519 verification per chain head.
 */
export class LogVerifier {
  private run: string | undefined;
  /** The stream's last sequence as the header records it (format 2). */
  private last: number | undefined;
  private headerSeen = false;
  private lines = 0;
  private lastStream = 0;
  private count = 0;
  private refused = 0;
  private readonly ids = new Set<string>();
  private readonly tails = new Map<string, Tail>();
  private failure: Extract<VerifyResult, { ok: false }> | undefined;
  private final: VerifyResult | undefined;
  /** Reused buffer for a canonical body cut from stored bytes. */
  private scratch = new Uint8Array(1024);

  constructor(
    private readonly crypto: CryptoSuite,
    private readonly registry: EventRegistry,
    private readonly opts: VerifyOptions = {},
  ) {
    this.run = opts.run;
  }

  /** Feeds the next JSONL line (the header first). Returns false once the log has failed. */
  line(text: string): boolean {
    this.lines += 1;
    if (this.failure !== undefined) return false;
    if (isBlank(text)) return true;
    const index = this.lines;
    if (!this.headerSeen) {
      const h = parseLogHeader(text, index);
      if (Result.isFailure(h)) return this.fail({ index, reason: "BadHeader", detail: h.failure.detail });
      if (this.run !== undefined && h.success.run !== this.run)
        return this.fail({ index, reason: "BadHeader", detail: `log is of run ${h.success.run}, expected ${this.run}` });
      this.run = h.success.run;
      this.last = h.success.last;
      this.headerSeen = true;
      return true;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return this.fail({ index, reason: "MalformedJson", detail: err instanceof Error ? err.message : String(err) });
    }
    const refused = readRefusedLine(json, index);
    if (refused !== undefined) {
      if (Result.isFailure(refused)) return this.fail({ index, reason: refused.failure.reason, detail: refused.failure.detail });
      // A fact the bus lost and no producer's journal refilled: the log is incomplete.
      if (refused.success.refused.reason === DELETED) return this.fail({ index, reason: "Lost", detail: refused.success.refused.detail });
      return this.skip(refused.success.seq, index);
    }
    const entry = readLogEntry(json, index);
    if (Result.isFailure(entry)) {
      const eventId = idOf(json);
      return this.fail({ index, reason: entry.failure.reason, detail: entry.failure.detail, ...(eventId === undefined ? {} : { eventId }) });
    }
    return this.accept(entry.success.seq, entry.success.event, index, undefined);
  }

  /**
   * Feeds one event with its stream sequence (from a JSONL entry, or straight from a replay of
   * the facts stream with `opts.run` set). `index` names it in failures; default: the stream seq.
   */
  event(streamSeq: number, event: unknown, index = streamSeq): boolean {
    return this.entry(streamSeq, event, index, undefined);
  }

  /**
   * Feeds one stored message (the bytes an EventLog holds for the event at `streamSeq`): the same
   * checks and verdicts as `event(streamSeq, JSON.parse(text))`, but when the bytes are provably
   * canonical the hash is taken over them instead of a re-serialisation (canonical.ts says why
   * that is sound), and a message in the producer's layout is read without a full JSON.parse
   * (canonical-read.ts). The bytes are only read.
   */
  message(streamSeq: number, bytes: Uint8Array, index = streamSeq): boolean {
    if (this.failure !== undefined) return false;
    let text: string | undefined;
    try {
      text = UTF8.decode(bytes);
    } catch {
      text = undefined;
    }
    // Not UTF-8, or a byte-order mark (which a decoder drops): decoded as before (U+FFFD for bad
    // bytes) and judged on the re-serialised text.
    const exact = text !== undefined && text.charCodeAt(0) !== 0xfeff;
    if (!exact) text = undefined;
    else if (this.run !== undefined && Number.isSafeInteger(streamSeq) && streamSeq >= 1) {
      const read = readCanonical(text as string, bytes);
      // A value readEnvelope refuses is judged on JSON.parse's reading below, as before.
      const e = read === undefined ? undefined : readEnvelope(read.value);
      if (read !== undefined && e !== undefined && typeof e !== "string") return this.accept(streamSeq, e, index, bytes, read.bodyLength);
    }
    let json: unknown;
    try {
      json = JSON.parse(text ?? LENIENT.decode(bytes));
    } catch {
      // Not JSON: named as an invalid entry at this seq.
      json = undefined;
    }
    return this.entry(streamSeq, json, index, exact ? bytes : undefined);
  }

  private entry(streamSeq: number, event: unknown, index: number, bytes: Uint8Array | undefined): boolean {
    if (this.failure !== undefined) return false;
    const run = this.run;
    if (run === undefined) return this.fail({ index, reason: "BadHeader", detail: "no header line and no run given" });
    // readLogEntry's checks, without its wrapper objects on the common path.
    const e = Number.isSafeInteger(streamSeq) && streamSeq >= 1 && event !== undefined ? readEnvelope(event) : undefined;
    if (e === undefined || typeof e === "string") {
      const entry = readLogEntry({ seq: streamSeq, event }, index);
      if (Result.isSuccess(entry)) return this.accept(streamSeq, entry.success.event, index, undefined);
      const eventId = idOf({ event });
      return this.fail({ index, reason: entry.failure.reason, detail: entry.failure.detail, ...(eventId === undefined ? {} : { eventId }) });
    }
    return this.accept(streamSeq, e, index, bytes);
  }

  /**
   * sha256 of the canonical body read straight from the stored bytes, or undefined (re-serialise).
   * `n`: the body's length when already known (-1: not provably canonical); default: find it.
   */
  private storedBodyHash(bytes: Uint8Array, e: Envelope, known?: number): string | undefined {
    const sha = this.crypto.sha256HexBytes;
    if (sha === undefined) return undefined;
    const n = known ?? canonicalBodyLength(bytes, e);
    if (n < 0) return undefined;
    if (this.scratch.length <= n) this.scratch = new Uint8Array(2 * (n + 1));
    this.scratch.set(bytes.subarray(0, n));
    this.scratch[n] = 0x7d; // the body's closing "}"
    return sha.call(this.crypto, this.scratch.subarray(0, n + 1));
  }

  private accept(streamSeq: number, e: Envelope, index: number, bytes: Uint8Array | undefined, bodyLength?: number): boolean {
    if (this.ids.has(e.id)) return this.failAt(e, index, "Duplicate", `event id ${e.id} appears twice`);
    if (streamSeq <= this.lastStream)
      return this.failAt(e, index, "StreamOrder", `stream seq ${streamSeq} after ${this.lastStream}: events are out of order`);
    if (streamSeq !== this.lastStream + 1)
      return this.failAt(e, index, "StreamGap", `stream seq ${streamSeq} after ${this.lastStream}: ${streamSeq - this.lastStream - 1} event(s) missing or moved`);
    const bodyHash = bytes === undefined ? undefined : this.storedBodyHash(bytes, e, bodyLength);
    const content = checkContent(this.crypto, this.registry, this.run as string, e, bodyHash);
    if (isFault(content)) return this.failAt(e, index, content.reason, content.detail);
    const tail = this.tails.get(e.actor);
    const head = linkEvent(this.crypto, tail?.head, e, content.payload);
    if (isFault(head)) return this.failAt(e, index, head.reason, head.detail);
    for (const c of e.cause)
      if (!this.ids.has(c)) return this.failAt(e, index, "UnknownCause", `cause ${c} is not an earlier event of this log`);
    const checkpoint = e.seq % SIGN_EVERY === 0;
    if (checkpoint && e.sig === undefined)
      return this.failAt(e, index, "MissingSignature", `seq ${e.seq} is a multiple of ${SIGN_EVERY} and must be signed`);
    let verified = false;
    if (e.sig !== undefined && (checkpoint || this.opts.fullSignatures === true)) {
      if (!this.crypto.ed25519Verify(head.sessionKey, e.hash, e.sig))
        return this.failAt(e, index, "BadSignature", `signature does not verify under the certified session key ${head.sessionKey.slice(0, 12)}…`);
      verified = true;
    }
    const uncoveredFrom = e.sig !== undefined ? e.seq + 1 : (tail?.uncoveredFrom ?? e.seq);
    if (tail === undefined) this.tails.set(e.actor, { head, id: e.id, index, sig: e.sig, verified, uncoveredFrom });
    else {
      tail.head = head;
      tail.id = e.id;
      tail.index = index;
      tail.sig = e.sig;
      tail.verified = verified;
      tail.uncoveredFrom = uncoveredFrom;
    }
    this.ids.add(ownCopy(e.id));
    this.lastStream = streamSeq;
    this.count += 1;
    return true;
  }

  /**
   * A refused message's line: it holds its stream sequence (so the order checks still see every
   * sequence) and no event. Whatever it stood for, the chains around it are checked as ever: an
   * event of an actor turned into a refused line breaks that actor's chain or leaves it unsigned.
   */
  private skip(streamSeq: number, index: number): boolean {
    if (streamSeq <= this.lastStream)
      return this.fail({ index, reason: "StreamOrder", detail: `stream seq ${streamSeq} after ${this.lastStream}: events are out of order` });
    if (streamSeq !== this.lastStream + 1)
      return this.fail({ index, reason: "StreamGap", detail: `stream seq ${streamSeq} after ${this.lastStream}: ${streamSeq - this.lastStream - 1} event(s) missing or moved` });
    this.lastStream = streamSeq;
    this.refused += 1;
    return true;
  }

  /** The verdict. Checks that every actor's last event is signed by its session key. */
  result(): VerifyResult {
    if (this.final !== undefined) return this.final;
    this.final = this.failure ?? this.checkTails() ?? { ok: true, events: this.count, actors: this.tails.size, ...(this.refused > 0 ? { refused: this.refused } : {}) };
    return this.final;
  }

  private checkTails(): Extract<VerifyResult, { ok: false }> | undefined {
    if (!this.headerSeen && this.opts.run === undefined)
      return { ok: false, index: Math.max(this.lines, 1), reason: "BadHeader", detail: "the log is empty: no header line" };
    // A run's log opens with a certificate: a log without events vouches for nothing, and a
    // header-only export is what a failed or mistargeted export leaves behind.
    if (this.last !== undefined && this.lastStream !== this.last)
      return {
        ok: false,
        index: Math.max(this.lines, 1),
        reason: "Truncated",
        detail: `the header records stream seqs 1..${this.last}, the file ends at seq ${this.lastStream}: ${this.last - this.lastStream} line(s) missing`,
      };
    if (this.count === 0)
      return { ok: false, index: Math.max(this.lines, 1), reason: "NoEvents", detail: `the log holds no events${this.run === undefined ? "" : ` of run ${this.run}`}: nothing to verify` };
    const tails = [...this.tails.entries()].sort((a, b) => a[1].index - b[1].index);
    for (const [actor, t] of tails) {
      const at = { ok: false as const, index: t.index, eventId: t.id, actor, seq: t.head.seq };
      if (t.sig === undefined)
        return { ...at, reason: "MissingSignature", detail: `actor ${actor}'s last event is unsigned: seq ${t.uncoveredFrom}..${t.head.seq} are covered by no signature` };
      if (!t.verified && !this.crypto.ed25519Verify(t.head.sessionKey, t.head.hash, t.sig))
        return { ...at, reason: "BadSignature", detail: `signature on actor ${actor}'s last event does not verify under its certified session key` };
    }
    return undefined;
  }

  private failAt(e: Envelope, index: number, reason: RejectReason, detail: string): false {
    return this.fail({ index, eventId: e.id, actor: e.actor, seq: e.seq, reason, detail });
  }

  private fail(f: Omit<Extract<VerifyResult, { ok: false }>, "ok">): false {
    this.failure = { ok: false, ...f };
    return false;
  }
}

/**
 * `s` as a string that does not keep a larger one alive. readCanonical cuts ids out of the whole
 * message text, and V8 keeps a cut of 13 or more characters as a view into its parent: stored in
 * `ids` for the whole replay, each would pin its message (~300 bytes instead of the id). Slicing a
 * concatenation makes V8 copy the characters into a fresh string first.
 */
const ownCopy = (s: string): string => (s.length < 13 ? s : `${s} `.slice(0, -1));

/** Fatal: only valid UTF-8 may be hashed as bytes (the text must be their exact decoding). */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const LENIENT = new TextDecoder();

const idOf = (u: unknown): string | undefined => {
  const event = typeof u === "object" && u !== null ? (u as { event?: unknown }).event : undefined;
  const id = typeof event === "object" && event !== null ? (event as { id?: unknown }).id : undefined;
  return typeof id === "string" ? id.slice(0, 128) : undefined;
};

/**
 * Verifies a whole exported log (JSONL lines: header, then `{"seq","event"}` lines in stream
 * order) and names the first bad event and why.
 */
export const verifyLog = (crypto: CryptoSuite, registry: EventRegistry, lines: Iterable<string>, opts?: VerifyOptions): VerifyResult => {
  const v = new LogVerifier(crypto, registry, opts);
  for (const text of lines) if (!v.line(text)) break;
  return v.result();
};

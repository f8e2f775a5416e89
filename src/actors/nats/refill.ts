// Refills: facts the bus lost, re-published from their producers' journals.
//
// JetStream can lose acknowledged writes (a coordinated power failure with lazy fsync, a wiped
// store) and an operator can delete messages. A reader finds such a hole as a facts-stream
// sequence with no message. It asks the run's producers over core NATS (`swl.<run>.refill`, request
// and replies); the producer whose journal holds that stream sequence re-publishes the fact,
// byte for byte, on `swl.<run>.r.<actor>.<seq>` in the refill stream (msgID `<id>~r`, so asking
// twice stores one copy) and answers with where the copy is. A reader never trusts the copy: it
// offers it to its IngestGate at the hole, where the hash chain and signatures judge it like any
// other message. The facts stream keeps its sequences (the log's positions); copies live beside it.
import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { streams, subjects } from "../../events/subjects.js";
import type { RawEntry } from "../eventlog/service.js";
import { inboxOf } from "./connection.js";
import { readRange } from "./range-reader.js";

/** What a reader asks: the facts-stream sequences it found empty. */
export interface RefillRequest {
  readonly streamSeqs: readonly number[];
}

/** A producer's answer: where it stored its copies (refill-stream sequences), by lost stream sequence. */
export interface RefillReply {
  readonly refilled: readonly { readonly streamSeq: number; readonly refillSeq: number }[];
}

/** One stored copy of a lost fact: `seq` is the facts-stream sequence it stands for, `subject` its actor's facts subject. */
export type Refill = RawEntry;

/** Longest request a producer answers (sequences); a reader asks in pieces of this size. */
export const MAX_REFILL_REQUEST = 4096;

/** A malformed refill request (recorded by the producer that got it; nothing is re-published). */
export class BadRefillRequest extends Error {
  override readonly name = "BadRefillRequest";
}

const decoder = new TextDecoder();

/** Parses a request's bytes, or says what is wrong with them. */
export const readRefillRequest = (data: Uint8Array): RefillRequest | BadRefillRequest => {
  if (data.byteLength > 16 * MAX_REFILL_REQUEST + 64) return new BadRefillRequest(`refill request of ${data.byteLength} bytes is too large`);
  let u: unknown;
  try {
    u = JSON.parse(decoder.decode(data));
  } catch (e) {
    return new BadRefillRequest(`refill request is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const seqs = typeof u === "object" && u !== null ? (u as { streamSeqs?: unknown }).streamSeqs : undefined;
  if (!Array.isArray(seqs) || seqs.length === 0 || seqs.length > MAX_REFILL_REQUEST || !seqs.every((s) => Number.isSafeInteger(s) && (s as number) >= 1))
    return new BadRefillRequest(`a refill request is {"streamSeqs":[N,...]} with 1..${MAX_REFILL_REQUEST} positive integers`);
  return { streamSeqs: seqs as number[] };
};

/** The stream sequences in 1..`last` that hold no message: deleted ones, and any below the stream's first. */
export const streamHoles = async (jsm: JetStreamManager, run: string, last?: number): Promise<number[]> => {
  const info = await jsm.streams.info(streams.facts(run), { deleted_details: true });
  const end = last ?? info.state.last_seq;
  const holes: number[] = [];
  for (let s = 1; s < Math.min(info.state.first_seq, end + 1); s++) holes.push(s);
  for (const s of info.state.deleted ?? []) if (s <= end && s >= info.state.first_seq) holes.push(s);
  return holes.sort((a, b) => a - b);
};

/** A stored copy as the entry it stands for: its lost stream sequence and its actor's facts subject. */
const asRefill = (run: string, subject: string, data: Uint8Array): Refill | undefined => {
  const of = subjects.refillOf(run, subject);
  return of === undefined ? undefined : { seq: of.streamSeq, subject: subjects.facts(run, of.actor), data };
};

const add = (into: Map<number, Refill[]>, r: Refill): void => {
  const list = into.get(r.seq);
  if (list === undefined) into.set(r.seq, [r]);
  else if (!list.some((x) => equalBytes(x.data, r.data))) list.push(r);
};

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);

/** Every copy in the run's refill stream, by the stream sequence it stands for. */
export const storedRefills = async (nc: NatsConnection, jsm: JetStreamManager, run: string): Promise<Map<number, Refill[]>> => {
  const out = new Map<number, Refill[]>();
  const info = await jsm.streams.info(streams.refills(run)).catch((e: unknown) => {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) return undefined;
    throw e;
  });
  if (info === undefined || info.state.messages === 0) return out;
  for await (const chunk of readRange(nc, jsm, { stream: streams.refills(run), filter: subjects.refillsAll(run), from: info.state.first_seq, end: info.state.last_seq })) {
    for (const m of chunk) {
      const r = asRefill(run, m.subject, m.data);
      if (r !== undefined) add(out, r);
    }
  }
  return out;
};

/**
 * Asks the run's producers for `streamSeqs` and collects the copies they store, until every one
 * has at least one or `waitMs` passes. Producers that hold none of them stay silent.
 */
export const requestRefills = async (nc: NatsConnection, run: string, streamSeqs: readonly number[], waitMs: number): Promise<Map<number, Refill[]>> => {
  const out = new Map<number, Refill[]>();
  if (streamSeqs.length === 0) return out;
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const wanted = new Set(streamSeqs);
  const inbox = inboxOf(nc);
  let sub: Subscription | undefined;
  const fetches: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    const fetch = async (refillSeq: number): Promise<void> => {
      const m = await jsm.streams.getMessage(streams.refills(run), { seq: refillSeq }).catch(() => null);
      const r = m === null ? undefined : asRefill(run, m.subject, m.data);
      if (r === undefined || !wanted.has(r.seq)) return;
      add(out, r);
      if ([...wanted].every((s) => out.has(s))) {
        clearTimeout(timer);
        resolve();
      }
    };
    sub = nc.subscribe(inbox, {
      callback: (err: Error | null, msg: Msg) => {
        if (err !== null) return;
        const reply = readReply(msg.data);
        for (const r of reply) if (wanted.has(r.streamSeq)) fetches.push(fetch(r.refillSeq));
      },
    });
    for (let i = 0; i < streamSeqs.length; i += MAX_REFILL_REQUEST)
      nc.publish(subjects.refillRequest(run), JSON.stringify({ streamSeqs: streamSeqs.slice(i, i + MAX_REFILL_REQUEST) } satisfies RefillRequest), { reply: inbox });
  });
  sub?.unsubscribe();
  await Promise.all(fetches);
  return out;
};

const readReply = (data: Uint8Array): RefillReply["refilled"] => {
  try {
    const u = JSON.parse(decoder.decode(data)) as { refilled?: unknown };
    if (!Array.isArray(u.refilled)) return [];
    return u.refilled.filter(
      (r): r is RefillReply["refilled"][number] =>
        typeof r === "object" && r !== null && Number.isSafeInteger((r as { streamSeq?: unknown }).streamSeq) && Number.isSafeInteger((r as { refillSeq?: unknown }).refillSeq),
    );
  } catch {
    return [];
  }
};

/** Copies for `holes` by the stream sequence they stand for: those already stored, then asked of the producers for the rest (waiting up to `waitMs`); a hole nobody refilled is absent. */
export const gatherRefills = async (nc: NatsConnection, run: string, holes: readonly number[], waitMs: number): Promise<Map<number, Refill[]>> => {
  if (holes.length === 0) return new Map();
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const stored = await storedRefills(nc, jsm, run);
  const refills = new Map<number, Refill[]>();
  for (const h of holes) {
    const s = stored.get(h);
    if (s !== undefined) refills.set(h, s);
  }
  const ask = holes.filter((h) => !refills.has(h));
  for (const [seq, list] of await requestRefills(nc, run, ask, waitMs)) refills.set(seq, list);
  return refills;
};

/** A source of facts a producer can re-publish: its journal. */
export interface RefillSource {
  readonly actor: string;
  /** The journaled facts stored at these stream sequences (as published), for those it holds. */
  lookup(streamSeqs: readonly number[]): readonly { readonly streamSeq: number; readonly id: string; readonly text: string }[];
}

export interface RefillServer {
  /** Requests answered with at least one copy, and malformed requests refused. */
  stats(): { readonly answered: number; readonly republished: number; readonly refused: number };
  stop(): void;
}

/**
 * Answers the run's refill requests from `source`: each held fact is re-published (idempotent by
 * msgID) and the reply names where its copy is. Malformed requests are refused and reported to
 * `onBadRequest`; the producer goes on.
 */
export const serveRefills = (nc: NatsConnection, run: string, source: RefillSource, onBadRequest: (e: BadRefillRequest) => void = () => undefined): RefillServer => {
  // The run's streams exist (its orchestrator creates them; a member may not).
  const js = jetstream(nc);
  let answered = 0;
  let republished = 0;
  let refused = 0;
  const answer = async (msg: Msg): Promise<void> => {
    const req = readRefillRequest(msg.data);
    if (req instanceof BadRefillRequest) {
      refused += 1;
      onBadRequest(req);
      return;
    }
    const held = source.lookup(req.streamSeqs);
    if (held.length === 0 || msg.reply === undefined) return;
    const refilled: { streamSeq: number; refillSeq: number }[] = [];
    for (const h of held) {
      const ack = await js.publish(subjects.refill(run, source.actor, h.streamSeq), h.text, { msgID: `${h.id}~r` }).catch(() => undefined);
      if (ack === undefined) continue;
      if (!ack.duplicate) republished += 1;
      refilled.push({ streamSeq: h.streamSeq, refillSeq: ack.seq });
    }
    if (refilled.length === 0) return;
    answered += 1;
    msg.respond(JSON.stringify({ refilled } satisfies RefillReply));
  };
  const sub = nc.subscribe(subjects.refillRequest(run), { callback: (err, msg) => void (err === null ? answer(msg) : undefined) });
  return { stats: () => ({ answered, republished, refused }), stop: () => sub.unsubscribe() };
};

/**
 * A reader's refills: on its first hole it asks for every hole the stream has (one wait for all of
 * them, however many), then only for holes it has not asked about; a hole nobody refilled is not
 * waited for again (its producer is gone, or its journal lost it too).
 */
export class RefillCache {
  private readonly got = new Map<number, readonly Refill[]>();
  private readonly asked = new Set<number>();
  private swept = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly run: string,
    private readonly waitMs: number,
  ) {}

  async refillsFor(streamSeqs: readonly number[]): Promise<ReadonlyMap<number, readonly Refill[]>> {
    let ask = streamSeqs.filter((s) => !this.asked.has(s));
    if (!this.swept && ask.length > 0) {
      this.swept = true;
      const all = await streamHoles(await jetstreamManager(this.nc, { checkAPI: false }), this.run).catch(() => []);
      ask = [...new Set([...ask, ...all])].filter((s) => !this.asked.has(s));
    }
    if (ask.length > 0) {
      for (const s of ask) this.asked.add(s);
      for (const [s, list] of await gatherRefills(this.nc, this.run, ask, this.waitMs)) this.got.set(s, list);
    }
    const out = new Map<number, readonly Refill[]>();
    for (const s of streamSeqs) {
      const list = this.got.get(s);
      if (list !== undefined) out.set(s, list);
      // Offered once: the gate remembers what it accepted.
      this.got.delete(s);
    }
    return out;
  }
}

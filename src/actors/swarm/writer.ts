// An actor's writer: its hotkey, a session key certified by the hotkey, its hash chain, and a
// serialized append queue onto the run's log (expected last subject sequence on every append,
// consecutive drafts batched under one signature, bus failures retried with the same event ids,
// foreign messages on its subject reported and appended after).
import { randomBytes } from "node:crypto";
import { Effect, Stream } from "effect";
import { ActorChain, sessionCertifiedDraft } from "../../events/chain.js";
import type { Draft, Envelope } from "../../events/envelope.js";
import { parseEntry } from "../eventlog/codec.js";
import { type ForeignMessage, UnreadableEntry } from "../eventlog/errors.js";
import type { EventLogShape } from "../eventlog/service.js";
import { RIDE_THROUGH } from "../nats/ride-through.js";
import { certifySessionKey, type Hotkey, nodeCrypto, sessionKey } from "../identity/index.js";
import type { FeedHead } from "./feed.js";
import type { FactJournal } from "./journal.js";
import { judgeTail } from "./foreign.js";

export interface WriterOptions {
  readonly log: EventLogShape;
  readonly run: string;
  readonly hotkey: Hotkey;
  /** Where the actor's chain stands in the log (from the run feed); seq 0 for a new actor. */
  readonly head: FeedHead;
  /** A nonce for this process start; event ids of this session carry it. */
  readonly session: string;
  /** 32-byte seed of the session key (tests); default fresh randomness. */
  readonly sessionSeed?: Uint8Array;
  /** Step recorded on the certificate event. */
  readonly step?: number;
  /** Told of each foreign message found on the actor's subject; default: a line on stderr. */
  readonly onForeign?: (e: ForeignMessage) => void;
  /** Where every stored batch is journaled (for refills when the bus loses facts); default none. */
  readonly journal?: FactJournal;
}

/**
 * Conflicts in a row that foreign messages may cause before the writer gives up: each costs the
 * publisher one message, the writer a read of its subject's tail.
 */
const MAX_FOREIGN_CONFLICTS = 100;

/** Appends one actor's facts in order. Create with `openWriter` (it certifies the session key). */
export class ActorWriter {
  private tail: Promise<unknown> = Promise.resolve();
  private queue: { draft: Draft; resolve: (e: Envelope) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;
  private failed: unknown;
  private foreign = 0;

  /**
   * @param headKey the session key in force at the chain's stored head (the feed's; "" if none):
   *   what another session's events extending it would be signed with, until a certificate.
   * @param ownKey this session's key, in force once its certificate is stored.
   */
  constructor(
    private readonly log: EventLogShape,
    private readonly chain: ActorChain,
    private lastStreamSeq: number,
    private headKey: string,
    private readonly ownKey: string,
    private readonly onForeign: (e: ForeignMessage) => void,
    private readonly journal?: FactJournal,
  ) {}

  get actor(): string {
    return this.chain.actor;
  }

  /** Foreign messages found on the actor's subject so far (each reported to onForeign). */
  get foreignMessages(): number {
    return this.foreign;
  }

  /** Appends `draft` after everything queued before it; resolves with its envelope once stored. */
  append(draft: Draft): Promise<Envelope> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise<Envelope>((resolve, reject) => {
      this.queue.push({ draft, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        this.tail = this.tail.then(() => this.flush());
      }
    });
  }

  /** Resolves when everything queued so far is stored. */
  async drain(): Promise<void> {
    while (this.flushing) await this.tail;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        const envelopes = this.chain.seal(batch.map((b) => b.draft));
        const seqs = await this.appendWithRetry(envelopes);
        this.lastStreamSeq = seqs[seqs.length - 1] ?? this.lastStreamSeq;
        this.journalBatch(envelopes, seqs);
        batch.forEach((b, i) => b.resolve(envelopes[i] as Envelope));
      } catch (e) {
        // A conflict (another writer of this actor) or a refusal: the chain cannot continue.
        this.failed = e;
        for (const b of [...batch, ...this.queue]) b.reject(e);
        this.queue = [];
      }
    }
    this.flushing = false;
  }

  /** The batch is stored: a journal that cannot be written is reported, and the chain goes on. */
  private journalBatch(envelopes: readonly Envelope[], seqs: readonly number[]): void {
    try {
      this.journal?.record(envelopes, seqs);
    } catch (e) {
      process.stderr.write(`${this.actor.slice(0, 8)}: journal ${this.journal?.file}: ${e instanceof Error ? e.message : String(e)} (these facts cannot be refilled)\n`);
    }
  }

  private async appendWithRetry(envelopes: readonly Envelope[]): Promise<readonly number[]> {
    let conflicts = 0;
    let unavailableSince: number | undefined;
    for (let attempt = 0; ; attempt++) {
      const r = await Effect.runPromise(
        Effect.result(this.log.append(this.chain.run, this.chain.actor, envelopes, { expectedLastSubjectSeq: this.lastStreamSeq })),
      );
      if (r._tag === "Success") {
        this.headKey = this.ownKey; // the session's first batch is its certificate
        return r.success;
      }
      const err = r.failure;
      // Retried appends carry the same event ids and the same expected sequence, so the stream
      // deduplicates what already landed; the server's absence is waited through (RIDE_THROUGH).
      if (err._tag === "NatsUnavailable") {
        unavailableSince ??= performance.now();
        if (performance.now() - unavailableSince < RIDE_THROUGH.maxMs) {
          await new Promise((res) => setTimeout(res, RIDE_THROUGH.backoffMs[Math.min(attempt, RIDE_THROUGH.backoffMs.length - 1)]));
          continue;
        }
      }
      if (err._tag === "AppendConflict" && conflicts++ < MAX_FOREIGN_CONFLICTS) {
        const end = await this.pastForeign(envelopes);
        if (end !== undefined) {
          this.lastStreamSeq = end;
          continue;
        }
      }
      throw err;
    }
  }

  /**
   * After a conflict: the subject's last sequence when every message stored there since this
   * writer's last append is foreign (each reported), so the batch can go after them; undefined
   * when the actor's own chain moved on (another session of this hotkey appended): a real conflict.
   */
  private async pastForeign(envelopes: readonly Envelope[]): Promise<number | undefined> {
    const { run, actor } = this.chain;
    const end = await Effect.runPromise(this.log.lastSubjectSeq(run, actor));
    if (end <= this.lastStreamSeq) return undefined;
    const tail = await Effect.runPromise(Stream.runCollect(this.log.readRaw(run, { fromSeq: this.lastStreamSeq + 1, toSeq: end, actor })));
    const first = envelopes[0] as Envelope;
    const head = first.seq === 1 ? undefined : { seq: first.seq - 1, hash: first.prev, sessionKey: this.headKey };
    const verdict = judgeTail(run, actor, head, [...tail], new Set(envelopes.map((e) => e.id)));
    if (verdict.own) return undefined;
    for (const f of verdict.foreign) {
      this.foreign += 1;
      this.onForeign(f);
    }
    return end;
  }
}

/**
 * Opens an actor's writer at the chain head the feed saw and certifies a new session key (the
 * first event of the chain, or a re-key after a restart).
 */
export const openWriter = async (o: WriterOptions): Promise<ActorWriter> => {
  const signer = sessionKey(o.sessionSeed ?? new Uint8Array(randomBytes(32)));
  const head = await storedTail(o);
  const chain = new ActorChain(nodeCrypto, signer, o.run, o.hotkey.address, head.seq === 0 ? undefined : { seq: head.seq, hash: head.hash });
  const onForeign = o.onForeign ?? ((e: ForeignMessage) => process.stderr.write(`${o.hotkey.address.slice(0, 8)}: ${e.message}; appending after it\n`));
  const writer = new ActorWriter(o.log, chain, head.streamSeq, head.sessionKey, signer.publicKeyHex, onForeign, o.journal);
  const cert = certifySessionKey(o.hotkey, o.run, signer);
  await writer.append(sessionCertifiedDraft(cert, { id: certId(o.run, o.hotkey.address, o.session), step: o.step ?? 0 }));
  return writer;
};

/** The id of the SessionKeyCertified that `openWriter` appends for this session. */
export const certId = (run: string, actor: string, session: string): string => `${run}:${actor}:${session}:cert`;

/**
 * Where the actor's chain really ends in the log. A process killed mid-batch can leave stored but
 * unsigned events after the last signed one: readers hold them (the feed's head excludes them), and
 * the subject's last sequence is theirs. The new session extends that stored tail, so its signed
 * certificate releases them (they are this hotkey's own events) and the append is not refused.
 */
const storedTail = async (o: WriterOptions): Promise<FeedHead> => {
  const last = await Effect.runPromise(o.log.lastSubjectSeq(o.run, o.hotkey.address));
  if (last <= o.head.streamSeq) return o.head;
  const entries = await Effect.runPromise(Stream.runCollect(o.log.readRaw(o.run, { fromSeq: last, toSeq: last, actor: o.hotkey.address })));
  // Read leniently: a foreign message there (not JSON, another actor's) is passed by the first append.
  const raw = [...entries][0];
  const e = raw === undefined ? undefined : parseEntry(o.run, raw);
  if (e === undefined || e instanceof UnreadableEntry || e.envelope.actor !== o.hotkey.address || !(e.envelope.seq > o.head.seq)) return o.head;
  return { seq: e.envelope.seq, hash: e.envelope.hash, streamSeq: e.seq, sessionKey: o.head.sessionKey };
};

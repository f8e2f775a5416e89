// An actor's writer: its hotkey, a session key certified by the hotkey, its hash chain, and a
// serialized append queue onto the run's log (expected last subject sequence on every append,
// consecutive drafts batched under one signature, bus failures retried with the same event ids).
import { randomBytes } from "node:crypto";
import { Effect, Stream } from "effect";
import { ActorChain, sessionCertifiedDraft } from "../../events/chain.js";
import type { Draft, Envelope } from "../../events/envelope.js";
import type { EventLogShape } from "../eventlog/service.js";
import { certifySessionKey, type Hotkey, nodeCrypto, sessionKey } from "../identity/index.js";
import type { FeedHead } from "./feed.js";

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
}

/** Appends one actor's facts in order. Create with `openWriter` (it certifies the session key). */
export class ActorWriter {
  private tail: Promise<unknown> = Promise.resolve();
  private queue: { draft: Draft; resolve: (e: Envelope) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;
  private failed: unknown;

  constructor(
    private readonly log: EventLogShape,
    private readonly chain: ActorChain,
    private lastStreamSeq: number,
  ) {}

  get actor(): string {
    return this.chain.actor;
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

  private async appendWithRetry(envelopes: readonly Envelope[]): Promise<readonly number[]> {
    for (let attempt = 0; ; attempt++) {
      const r = await Effect.runPromise(
        Effect.result(this.log.append(this.chain.run, this.chain.actor, envelopes, { expectedLastSubjectSeq: this.lastStreamSeq })),
      );
      if (r._tag === "Success") return r.success;
      const err = r.failure;
      // Retried appends carry the same event ids, so the stream deduplicates what already landed.
      if (err._tag === "NatsUnavailable" && attempt < 10) {
        await new Promise((res) => setTimeout(res, 200 * (attempt + 1)));
        continue;
      }
      throw err;
    }
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
  const writer = new ActorWriter(o.log, chain, head.streamSeq);
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
  const entries = await Effect.runPromise(Stream.runCollect(o.log.read(o.run, { fromSeq: last, toSeq: last })));
  const e = [...entries].find((x) => x.envelope.actor === o.hotkey.address);
  if (e === undefined || e.envelope.seq <= o.head.seq) return o.head;
  return { seq: e.envelope.seq, hash: e.envelope.hash, streamSeq: e.seq };
};

// The writer's side of an actor's hash chain: assigns seq, prev and hash to drafts, and signs
// chain heads with the session key. Pure: crypto and the signer are injected.
import type { SessionCertificate } from "./certificate.js";
import type { CryptoSuite, SessionSigner } from "./crypto.js";
import { type Draft, type Envelope, GENESIS_PREV, hashBody, SIGN_EVERY } from "./envelope.js";
import { readEnvelope } from "./shape.js";
import { isToken } from "./subjects.js";

/** Where an actor's chain stands: its last seq and that event's hash (seq 0 = empty chain). */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/**
 * One actor's chain. `seal` turns drafts into envelopes that extend the chain, signing the last
 * envelope of each call and every envelope whose seq is a multiple of SIGN_EVERY, so a batch
 * costs one signature and no event waits more than SIGN_EVERY events for one. The chain
 * advances when `seal` returns: if the append then fails, rebuild it from the log's head.
 */
export class ActorChain {
  private last: ChainHead;

  /**
   * @param actor the hotkey's ss58 address.
   * @param resume the head of an existing chain (from the log); the first draft sealed after a
   *   restart with a new session key must be a SessionKeyCertified (see `sessionCertifiedDraft`).
   */
  constructor(
    private readonly crypto: CryptoSuite,
    private readonly signer: SessionSigner,
    readonly run: string,
    readonly actor: string,
    resume?: ChainHead,
  ) {
    if (!isToken(run)) throw new Error(`run ${JSON.stringify(run)} is not a subject token`);
    if (!isToken(actor)) throw new Error(`actor ${JSON.stringify(actor)} is not a subject token`);
    this.last = resume ?? { seq: 0, hash: GENESIS_PREV };
  }

  /** The chain's current head. */
  get head(): ChainHead {
    return this.last;
  }

  /**
   * Seals `drafts` in order onto the chain; the last one (if any) is signed. Throws (and does not
   * advance) on a draft no reader would accept: an id that is not 1-128 printable ASCII
   * characters, a non-integer step or at, a missing payload.
   */
  seal(drafts: readonly Draft[]): Envelope[] {
    const out: Envelope[] = [];
    let { seq, hash: prev } = this.last;
    for (let i = 0; i < drafts.length; i++) {
      const d = drafts[i] as Draft;
      seq += 1;
      const body = {
        id: d.id,
        type: d.type,
        v: d.v,
        run: this.run,
        actor: this.actor,
        seq,
        prev,
        cause: d.cause ?? [],
        step: d.step,
        at: d.at ?? 0,
        payload: d.payload,
      };
      const hash = hashBody(this.crypto, body);
      const signed = i === drafts.length - 1 || seq % SIGN_EVERY === 0;
      const e: Envelope = signed ? { ...body, hash, sig: this.signer.sign(hash) } : { ...body, hash };
      // Refuse to produce what every reader would refuse (a bad id, a fractional step, ...).
      const problem = readEnvelope(e);
      if (typeof problem === "string") throw new Error(`cannot seal draft ${JSON.stringify(d.id)}: ${problem}`);
      out.push(e);
      prev = hash;
    }
    this.last = { seq, hash: prev };
    return out;
  }
}

/**
 * The draft of the SessionKeyCertified event that opens an actor's chain (seq 1) or re-keys it
 * after a restart. The certificate is signed by the hotkey in the identity shell.
 */
export const sessionCertifiedDraft = (
  certificate: SessionCertificate,
  opts: { readonly id: string; readonly step: number; readonly at?: number; readonly cause?: readonly string[] },
): Draft<SessionCertificate> => ({
  id: opts.id,
  type: "SessionKeyCertified",
  v: 1,
  step: opts.step,
  payload: { hotkey: certificate.hotkey, sessionKey: certificate.sessionKey, certificate: certificate.certificate },
  ...(opts.at === undefined ? {} : { at: opts.at }),
  ...(opts.cause === undefined ? {} : { cause: opts.cause }),
});

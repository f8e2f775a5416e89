// A run's log written by several actors, each on its own certified, hash-chained, signed chain:
// how the deterministic simulator's facts become a log that `swarmline log verify` and
// `swarmline audit` accept (golden fixtures, tests, benchmarks). Same keys and facts, same bytes.
import { ActorChain, sessionCertifiedDraft } from "../../events/chain.js";
import type { SessionSigner } from "../../events/crypto.js";
import { type Envelope, hashBody, SIGN_EVERY } from "../../events/envelope.js";
import { formatLogHeader, formatLogLine } from "../../events/jsonl.js";
import { type SwarmFact, swarmVersion } from "../../events/swarm/index.js";
import { certId } from "../swarm/writer.js";
import { certifySessionKey } from "./certificate.js";
import { fixedRng, type Hotkey, type Rng } from "./hotkey.js";
import { nodeCrypto } from "./node-crypto.js";

/** What an actor signs with: its hotkey (certifies the session key) and its ed25519 session key. */
export interface ActorKey {
  readonly hotkey: Hotkey;
  readonly session: SessionSigner;
}

export interface SignedLogOptions {
  readonly run: string;
  /** The key of each actor id (a hotkey's ss58 address); an actor without one cannot be sealed. */
  readonly keyOf: (actor: string) => ActorKey | undefined;
  /** Nonce randomness of the hotkeys' certificates; default fixed, so the bytes are reproducible. */
  readonly rng?: Rng;
  /** Wall-clock ms of the first event (metadata only); each next event is 1 s later. */
  readonly startAt?: number;
  /** The `at` of the next event instead (a virtual clock's ms); must not run backwards. */
  readonly clock?: () => number;
}

export interface SignedLog {
  /**
   * Seals `fact` onto its actor's chain, opening the chain with a SessionKeyCertified the first
   * time the actor appears, and returns the fact as the log holds it: the chain's seq (the
   * certificate takes seq 1) and the envelope's hash. Throws for an actor without a key.
   */
  seal(fact: SwarmFact): SwarmFact;
  /**
   * The envelopes in stream order. A signature is kept where a writer would put one: on the last
   * event of every run of consecutive events by one actor (an append batch) and on every
   * SIGN_EVERY-th event of a chain; the hash chain covers the events between.
   */
  envelopes(): Envelope[];
  /** The log as an exported JSONL file: the header, then one line per envelope (no newlines). */
  lines(): string[];
}

/** The session every chain of a signed log is certified under (its certificate's id names it). */
const SESSION = "s0";

/** A log that deterministic facts are sealed into, actor by actor, in the order they happen. */
export const signedLog = (o: SignedLogOptions): SignedLog => {
  const rng = o.rng ?? fixedRng();
  const start = o.startAt ?? 1_700_000_000_000;
  const events: Envelope[] = [];
  const chains = new Map<string, ActorChain>();
  const at = (): number => (o.clock === undefined ? start + events.length * 1000 : o.clock());
  const chainOf = (actor: string, step: number): ActorChain => {
    const known = chains.get(actor);
    if (known !== undefined) return known;
    const key = o.keyOf(actor);
    if (key === undefined) throw new Error(`no key for actor ${actor}: every actor of a signed log needs one`);
    if (key.hotkey.address !== actor) throw new Error(`the key given for actor ${actor} is hotkey ${key.hotkey.address}`);
    const chain = new ActorChain(nodeCrypto, key.session, o.run, actor);
    const cert = certifySessionKey(key.hotkey, o.run, key.session, rng);
    events.push(...chain.seal([sessionCertifiedDraft(cert, { id: certId(o.run, actor, SESSION), step, at: at() })]));
    chains.set(actor, chain);
    return chain;
  };
  const envelopes = (): Envelope[] =>
    events.map((e, i) => {
      const batchEnd = events[i + 1]?.actor !== e.actor || e.seq % SIGN_EVERY === 0;
      if (batchEnd || e.sig === undefined) return e;
      const { sig: _, ...unsigned } = e;
      return unsigned;
    });
  return {
    seal: (fact) => {
      const chain = chainOf(fact.actor, fact.step);
      const [e] = chain.seal([{ id: fact.id, type: fact.type, v: swarmVersion(fact.type), step: fact.step, at: at(), cause: fact.cause, payload: fact.payload }]);
      const sealed = e as Envelope;
      events.push(sealed);
      return { ...fact, seq: sealed.seq, hash: sealed.hash };
    },
    envelopes,
    lines: () => [formatLogHeader(o.run), ...envelopes().map((e, i) => formatLogLine(i + 1, e))],
  };
};

/**
 * `actor`'s chain rebuilt over `events` (stream order) with its own session key: every event of
 * the actor gets the prev and hash of the chain as it now reads, and a fresh signature where it
 * had one. What an actor that rewrites its own history can produce: the log still verifies, and
 * only re-deriving its decisions shows the lie. Other actors' events are returned as they are.
 */
export const resealChain = (events: readonly Envelope[], actor: string, session: SessionSigner): Envelope[] => {
  let prev: string | undefined;
  return events.map((e) => {
    if (e.actor !== actor) return e;
    const { hash: _h, sig, ...body } = e;
    const linked = { ...body, prev: prev ?? body.prev };
    const hash = hashBody(nodeCrypto, linked);
    prev = hash;
    return sig === undefined ? { ...linked, hash } : { ...linked, hash, sig: session.sign(hash) };
  });
};

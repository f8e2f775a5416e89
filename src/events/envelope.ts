// The envelope every fact travels in: identity, per-actor hash chain, causation, signature.
// Hashing and signing are injected (see crypto.ts) so this module stays pure.
import type { CryptoSuite } from "./crypto.js";

/** Hex sha256 of the genesis "previous event" of every actor chain. */
export const GENESIS_PREV = "0".repeat(64);

/**
 * A fact in the log. `hash` commits to every field but `hash` and `sig`, and through `prev` to
 * the actor's whole chain, so one signature on a later event authenticates every event before it.
 */
export interface Envelope<P = unknown> {
  /** Event id; used as the JetStream msgID so retried appends deduplicate. */
  readonly id: string;
  /** PascalCase past-tense fact name. */
  readonly type: string;
  /** Schema version of `payload`; old versions are upcast on read. */
  readonly v: number;
  readonly run: string;
  /** The emitting actor: its hotkey's ss58 address (format 42). */
  readonly actor: string;
  /** Actor-local sequence, 1-based and gap-free. */
  readonly seq: number;
  /** `hash` of this actor's previous event, or GENESIS_PREV for seq 1. */
  readonly prev: string;
  /** Ids of the events this one answers (causation). */
  readonly cause: readonly string[];
  /** Logical step of the run when this was emitted; decisions read this, never wall time. */
  readonly step: number;
  /** Wall-clock milliseconds: metadata only, hashed so it cannot be rewritten, never decided on. */
  readonly at: number;
  readonly payload: P;
  /** Hex sha256 of the canonical body. */
  readonly hash: string;
  /**
   * Hex ed25519 signature by the actor's certified session key over `hash`. Present on chain
   * heads (at least the last event of every append and every SIGN_EVERY-th event); an unsigned
   * event is trusted once a later signed event of the same actor covers it.
   */
  readonly sig?: string;
}

/** The fields a producer chooses; the rest (seq, prev, hash, sig) come from the actor's chain. */
export interface Draft<P = unknown> {
  readonly id: string;
  readonly type: string;
  readonly v: number;
  readonly cause?: readonly string[];
  readonly step: number;
  readonly at?: number;
  readonly payload: P;
}

/** At most this many consecutive unsigned events per actor chain. */
export const SIGN_EVERY = 256;

/**
 * The canonical body text that `hash` is taken over: a fixed key order, and `payload` as JSON.
 * JSON.stringify(JSON.parse(s)) === s for any s produced by JSON.stringify, so a consumer
 * recomputes the same text from the parsed envelope; a non-canonical forgery fails the hash.
 */
export const canonicalBody = (e: Omit<Envelope, "hash" | "sig">): string =>
  JSON.stringify({
    id: e.id,
    type: e.type,
    v: e.v,
    run: e.run,
    actor: e.actor,
    seq: e.seq,
    prev: e.prev,
    cause: e.cause,
    step: e.step,
    at: e.at,
    payload: e.payload,
  });

export const hashBody = (crypto: CryptoSuite, e: Omit<Envelope, "hash" | "sig">): string =>
  crypto.sha256Hex(canonicalBody(e));

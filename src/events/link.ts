// The reader's side of an actor's hash chain, shared by the log verifier and the live ingest gate:
// content checks (run, schema, hash) and the link of an event onto its actor's chain.
import { Result } from "effect";
import { certificateFault, type SessionCertificate } from "./certificate.js";
import type { CryptoSuite } from "./crypto.js";
import { type Envelope, GENESIS_PREV, hashBody } from "./envelope.js";
import type { EventRegistry } from "./registry.js";

/** Where a verified actor chain stands, with the session key in force at its head. */
export interface ActorHead {
  readonly seq: number;
  readonly hash: string;
  readonly sessionKey: string;
}

/** Why an event does not fit, named for humans and machines. */
export interface Fault {
  readonly reason: "WrongRun" | "UnknownType" | "UnknownVersion" | "InvalidPayload" | "BadHash" | "BrokenChain" | "Uncertified";
  readonly detail: string;
}

/** The type that opens and re-keys an actor chain. */
export const CERTIFIED = "SessionKeyCertified";

/**
 * Checks `e` on its own: it belongs to `run`, its type/version is known and its payload valid
 * (result: the payload upcast to the latest version), and its hash is recomputed from its body.
 * `bodyHash`: the sha256 of canonicalBody(e) when the caller already has it (taken over stored
 * bytes proved canonical, see canonical.ts); default: re-serialise and hash.
 */
export const checkContent = (
  crypto: CryptoSuite,
  registry: EventRegistry,
  run: string,
  e: Envelope,
  bodyHash?: string,
): { readonly v: number; readonly payload: unknown } | Fault => {
  if (e.run !== run) return { reason: "WrongRun", detail: `event belongs to run ${e.run}, not ${run}` };
  const decoded = registry.decode(e.type, e.v, e.payload);
  if (Result.isFailure(decoded)) {
    const f = decoded.failure;
    const detail =
      f._tag === "UnknownType" ? `unknown event type ${f.type}`
      : f._tag === "UnknownVersion" ? `unknown version ${f.type} v${f.v}`
      : `invalid ${f.type} v${f.v} payload: ${f.message}`;
    return { reason: f._tag, detail };
  }
  const hash = bodyHash ?? hashBody(crypto, e);
  if (hash !== e.hash) return { reason: "BadHash", detail: `hash ${e.hash.slice(0, 12)}… does not match the body (${hash.slice(0, 12)}…): the event was altered` };
  return decoded.success;
};

export const isFault = (u: unknown): u is Fault => typeof u === "object" && u !== null && "reason" in u && "detail" in u;

/**
 * Links `e` (content already checked, `payload` its upcast payload) onto `head`, the actor's
 * chain so far (undefined: none yet). A chain opens with a SessionKeyCertified at seq 1 whose
 * hotkey certificate holds; a later SessionKeyCertified re-keys it. Returns the new head.
 */
export const linkEvent = (crypto: CryptoSuite, head: ActorHead | undefined, e: Envelope, payload: unknown): ActorHead | Fault => {
  if (head === undefined) {
    if (e.seq !== 1) return { reason: "Uncertified", detail: `first event of actor ${e.actor} has seq ${e.seq}: its chain does not start with a SessionKeyCertified` };
    if (e.type !== CERTIFIED) return { reason: "Uncertified", detail: `actor ${e.actor} opens its chain with ${e.type}, not a SessionKeyCertified` };
    if (e.prev !== GENESIS_PREV) return { reason: "BrokenChain", detail: "seq 1 must have the genesis prev (64 zeros)" };
  } else {
    if (e.seq !== head.seq + 1)
      return { reason: "BrokenChain", detail: `actor ${e.actor} seq ${e.seq} after seq ${head.seq}: ${e.seq <= head.seq ? "a fork or replay" : `${e.seq - head.seq - 1} event(s) missing`}` };
    if (e.prev !== head.hash) return { reason: "BrokenChain", detail: `actor ${e.actor} seq ${e.seq} does not extend its chain: prev ${e.prev.slice(0, 12)}… is not the hash of seq ${head.seq}` };
  }
  if (e.type !== CERTIFIED) return { seq: e.seq, hash: e.hash, sessionKey: (head as ActorHead).sessionKey };
  const cert = payload as SessionCertificate;
  const fault = certificateFault(crypto, e.run, e.actor, cert);
  if (fault !== null) return { reason: "Uncertified", detail: fault };
  return { seq: e.seq, hash: e.hash, sessionKey: cert.sessionKey };
};

// The gate a live consumer puts in front of its machine: every inbound message is checked (size,
// JSON, envelope, schema, hash, signature, chain, certificate, replay) before any state changes.
import type { CryptoSuite } from "./crypto.js";
import { type Envelope, SIGN_EVERY } from "./envelope.js";
import { type ActorHead, checkContent, isFault, linkEvent } from "./link.js";
import type { EventRegistry } from "./registry.js";
import { readEnvelope } from "./shape.js";

export type IngestReason =
  | "Oversized"
  | "MalformedJson"
  | "InvalidEnvelope"
  | "WrongRun"
  | "UnknownType"
  | "UnknownVersion"
  | "InvalidPayload"
  | "BadHash"
  | "BadSignature"
  | "MissingSignature"
  | "BrokenChain"
  | "Duplicate"
  | "Uncertified"
  | "HoldFull"
  /** The envelope names another actor than the subject it was published on (a forgery or a bug). */
  | "WrongSubject";

/**
 * Why a message was refused, as a plain tagged object (cheap to build, JSON for dead letters).
 * `eventId`, `actor` and `seq` are set once the envelope could be read.
 */
export type IngestError = {
  readonly [K in IngestReason]: {
    readonly _tag: K;
    readonly detail: string;
    readonly eventId?: string;
    readonly actor?: string;
    readonly seq?: number;
  };
}[IngestReason];

/** Accepted: the events released now (upcast to their latest version, in chain order). */
export type IngestResult =
  | { readonly _tag: "Accepted"; readonly events: readonly Envelope[] }
  | { readonly _tag: "Held" }
  | { readonly _tag: "Rejected"; readonly error: IngestError };

export interface IngestOptions {
  readonly run: string;
  /** Messages above this many bytes (UTF-8) are refused before parsing. */
  readonly maxBytes: number;
  /** Verified heads to resume from (e.g. after replaying the log up to a point). */
  readonly heads?: Iterable<readonly [actor: string, head: ActorHead]>;
}

/** An unsigned event waiting for a later signature of its actor, with its upcast form. */
interface HeldEvent {
  readonly seq: number;
  readonly prev: string;
  readonly id: string;
  readonly released: Envelope;
  /** The chain head after this event (its session key included). */
  readonly head: ActorHead;
}

interface ActorState {
  committed: ActorHead;
  /**
   * Unsigned candidates by hash. Unsigned events are not yet authenticated, so a forged one must
   * not block the genuine one: candidates may fork, and a verified signature picks the branch.
   */
  held: Map<string, HeldEvent>;
}

/** An actor with no released event yet. */
const EMPTY: ActorHead = { seq: 0, hash: "", sessionKey: "" };

/** Bound on unsigned candidates per actor: the honest chain needs at most SIGN_EVERY - 1. */
export const MAX_HELD = 2 * SIGN_EVERY;

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** UTF-8 length of `s` if it is at most `max`, else max + 1 (without encoding long strings). */
const utf8Length = (s: string, max: number): number => {
  if (s.length > max) return max + 1;
  if (s.length * 3 <= max) return s.length;
  return encoder.encode(s).length;
};

/**
 * Admits events one message at a time. A signed event that verifies is released together with
 * the unsigned events of its actor it covers; an unsigned one is held until then (an honest
 * chain holds at most SIGN_EVERY - 1, since every SIGN_EVERY-th event must be signed; forged
 * forks are held beside it up to MAX_HELD per actor). Every signature present is verified. A
 * rejection leaves the gate exactly as it was, so garbage never blocks valid events. Remembers
 * every released id (for replay detection): memory grows with the run.
 */
export class IngestGate {
  private readonly actors = new Map<string, ActorState>();
  private readonly ids = new Set<string>();

  constructor(
    private readonly crypto: CryptoSuite,
    private readonly registry: EventRegistry,
    private readonly opts: IngestOptions,
  ) {
    for (const [actor, head] of opts.heads ?? []) this.actors.set(actor, { committed: head, held: new Map() });
  }

  /** The verified, released head of each actor chain (held events excluded). */
  heads(): Map<string, ActorHead> {
    const out = new Map<string, ActorHead>();
    for (const [actor, s] of this.actors) if (s.committed.seq > 0) out.set(actor, s.committed);
    return out;
  }

  /** Whether the unsigned event `hash` of `actor` is still waiting for a signature (not released, not dropped as a fork). */
  holds(actor: string, hash: string): boolean {
    return this.actors.get(actor)?.held.has(hash) ?? false;
  }

  /** How many unsigned events are waiting for a signature. */
  heldCount(): number {
    let n = 0;
    for (const s of this.actors.values()) n += s.held.size;
    return n;
  }

  /**
   * Offers one message. `subjectActor`: the actor token of the subject it arrived on, when known;
   * an envelope naming another actor is refused (a client with rights to its own subject cannot
   * speak for anyone else, even on a server without permissions).
   */
  offer(raw: Uint8Array | string, subjectActor?: string): IngestResult {
    const size = typeof raw === "string" ? utf8Length(raw, this.opts.maxBytes) : raw.byteLength;
    if (size > this.opts.maxBytes) return reject({ _tag: "Oversized", detail: `message exceeds ${this.opts.maxBytes} bytes` });
    let json: unknown;
    try {
      json = JSON.parse(typeof raw === "string" ? raw : decoder.decode(raw));
    } catch (err) {
      return reject({ _tag: "MalformedJson", detail: err instanceof Error ? err.message : String(err) });
    }
    const e = readEnvelope(json);
    if (typeof e === "string") return reject({ _tag: "InvalidEnvelope", detail: e });
    const at = { eventId: e.id, actor: e.actor, seq: e.seq };
    if (subjectActor !== undefined && subjectActor !== e.actor)
      return reject({ _tag: "WrongSubject", detail: `event of actor ${e.actor} published on the subject of actor ${subjectActor}`, ...at });
    const content = checkContent(this.crypto, this.registry, this.opts.run, e);
    if (isFault(content)) return reject({ _tag: content.reason, detail: content.detail, ...at });
    if (this.ids.has(e.id)) return reject({ _tag: "Duplicate", detail: `event ${e.id} was already received`, ...at });
    const state = this.actors.get(e.actor) ?? { committed: EMPTY, held: new Map<string, HeldEvent>() };
    const { committed, held } = state;
    if (e.seq === committed.seq && e.hash === committed.hash)
      return reject({ _tag: "Duplicate", detail: `actor ${e.actor} seq ${e.seq} was already received`, ...at });
    // The event extends the released head or a held candidate.
    const parent = e.seq === committed.seq + 1 ? undefined : held.get(e.prev);
    const pred = parent === undefined ? (committed.seq === 0 ? undefined : committed) : parent.head;
    if (parent === undefined && e.seq > committed.seq + 1 && committed.seq > 0)
      return reject({ _tag: "BrokenChain", detail: `actor ${e.actor} seq ${e.seq} does not extend seq ${committed.seq} or any held event`, ...at });
    const head = linkEvent(this.crypto, pred, e, content.payload);
    if (isFault(head)) return reject({ _tag: head.reason, detail: head.detail, ...at });
    const released: Envelope = { ...e, v: content.v, payload: content.payload };
    if (e.sig === undefined) {
      if (e.seq % SIGN_EVERY === 0)
        return reject({ _tag: "MissingSignature", detail: `seq ${e.seq} is a multiple of ${SIGN_EVERY} and must be signed`, ...at });
      if (held.has(e.hash)) return reject({ _tag: "Duplicate", detail: `actor ${e.actor} seq ${e.seq} is already held`, ...at });
      if (held.size >= MAX_HELD)
        return reject({ _tag: "HoldFull", detail: `actor ${e.actor} already has ${MAX_HELD} unsigned events waiting for a signature`, ...at });
      held.set(e.hash, { seq: e.seq, prev: e.prev, id: e.id, released, head });
      this.actors.set(e.actor, state);
      return { _tag: "Held" };
    }
    if (!this.crypto.ed25519Verify(head.sessionKey, e.hash, e.sig))
      return reject({ _tag: "BadSignature", detail: `signature does not verify under the certified session key ${head.sessionKey.slice(0, 12)}…`, ...at });
    // The signature covers the held branch from the released head to this event.
    const branch: HeldEvent[] = [];
    for (let h = parent; h !== undefined; h = held.get(h.prev)) branch.push(h);
    branch.reverse();
    for (const h of branch)
      if (this.ids.has(h.id)) return reject({ _tag: "Duplicate", detail: `covered event ${h.id} was already received`, ...at });
    for (const h of branch) this.ids.add(h.id);
    this.ids.add(e.id);
    state.committed = head;
    state.held = prune(held, head);
    this.actors.set(e.actor, state);
    return { _tag: "Accepted", events: [...branch.map((h) => h.released), released] };
  }
}

/** The held candidates that still extend `head`; forks and covered events are dropped. */
const prune = (held: Map<string, HeldEvent>, head: ActorHead): Map<string, HeldEvent> => {
  const kept = new Map<string, HeldEvent>();
  const live = [...held.values()].filter((h) => h.seq > head.seq).sort((a, b) => a.seq - b.seq);
  for (const h of live) if ((h.seq === head.seq + 1 && h.prev === head.hash) || kept.has(h.prev)) kept.set(h.head.hash, h);
  return kept;
};

const reject = (error: IngestError): IngestResult => ({ _tag: "Rejected", error });

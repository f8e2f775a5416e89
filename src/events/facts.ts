// Envelopes -> swarm facts as the machines fold them: every payload validated at its recorded
// version and upcast to the latest, core facts (certificates) left out, in the order a verifying
// reader releases them (fold-order.ts). One function for the auditor, the replay tools, the tests
// and the benchmarks.
import type { Envelope } from "./envelope.js";
import { inReleaseOrder } from "./fold-order.js";
import type { EventRegistry } from "./registry.js";
import { asSwarmFact, isSwarmType, type SwarmFact } from "./swarm/index.js";
import { vocabularyRegistry } from "./vocabulary.js";

/** A swarm event whose payload does not decode at its version: named, never folded. */
export interface RefusedFact {
  readonly id: string;
  readonly type: string;
  readonly v: number;
  readonly reason: string;
}

/** One event's swarm fact (upcast), its refusal, or undefined for a core event (a certificate). */
export const decodeFact = (e: Envelope, registry: EventRegistry = vocabularyRegistry()): { readonly fact: SwarmFact } | { readonly refused: RefusedFact } | undefined => {
  if (!isSwarmType(e.type)) return undefined;
  const r = registry.decode(e.type, e.v, e.payload);
  if (r._tag === "Failure") return { refused: { id: e.id, type: e.type, v: e.v, reason: r.failure._tag === "InvalidPayload" ? r.failure.message : r.failure._tag } };
  const f = asSwarmFact(e, r.success.payload);
  return f === undefined ? undefined : { fact: f };
};

/**
 * The swarm facts of a log's `events` (given in stream order) in release order, upcast, and the
 * swarm events refused.
 */
export const decodeFactsChecked = (events: Iterable<Envelope>, registry: EventRegistry = vocabularyRegistry()): { readonly facts: SwarmFact[]; readonly refused: RefusedFact[] } => {
  const facts: SwarmFact[] = [];
  const refused: RefusedFact[] = [];
  for (const e of inReleaseOrder(events)) {
    const d = decodeFact(e, registry);
    if (d === undefined) continue;
    if ("fact" in d) facts.push(d.fact);
    else refused.push(d.refused);
  }
  return { facts, refused };
};

/** The swarm facts of a log's `events` (stream order) in release order, upcast; throws naming the first event that does not decode (a verified log has none). */
export const decodeFacts = (events: Iterable<Envelope>, registry?: EventRegistry): SwarmFact[] => {
  const r = decodeFactsChecked(events, registry);
  const bad = r.refused[0];
  if (bad !== undefined) throw new RangeError(`event ${bad.id} (${bad.type} v${bad.v}) does not decode: ${bad.reason}`);
  return r.facts;
};

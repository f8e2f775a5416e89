// Envelopes -> swarm facts as the machines fold them: every payload validated at its recorded
// version and upcast to the latest, core facts (certificates) left out. One function for the
// auditor, the replay tools, the tests and the benchmarks.
import type { Envelope } from "./envelope.js";
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

/** The swarm facts of `events` in order (upcast), and the swarm events refused. */
export const decodeFactsChecked = (events: Iterable<Envelope>, registry: EventRegistry = vocabularyRegistry()): { readonly facts: SwarmFact[]; readonly refused: RefusedFact[] } => {
  const facts: SwarmFact[] = [];
  const refused: RefusedFact[] = [];
  for (const e of events) {
    if (!isSwarmType(e.type)) continue;
    const r = registry.decode(e.type, e.v, e.payload);
    if (r._tag === "Failure") {
      refused.push({ id: e.id, type: e.type, v: e.v, reason: r.failure._tag === "InvalidPayload" ? r.failure.message : r.failure._tag });
      continue;
    }
    const f = asSwarmFact(e, r.success.payload);
    if (f !== undefined) facts.push(f);
  }
  return { facts, refused };
};

/** The swarm facts of `events` in order, upcast to the latest versions; throws naming the first event that does not decode (a verified log has none). */
export const decodeFacts = (events: Iterable<Envelope>, registry?: EventRegistry): SwarmFact[] => {
  const r = decodeFactsChecked(events, registry);
  const bad = r.refused[0];
  if (bad !== undefined) throw new RangeError(`event ${bad.id} (${bad.type} v${bad.v}) does not decode: ${bad.reason}`);
  return r.facts;
};

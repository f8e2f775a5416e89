// The order every reader folds a log in. A verifying reader (the live feed's IngestGate) holds an
// unsigned event until the signed event of its actor that covers it, then releases the covered
// events in chain order followed by the signed one. When a writer's batch is split by other
// writers' appends (every writer re-sending at once after a server restart), that release order
// differs from stream order. The orchestrator decides from its feed's fold, so the auditor folds
// the exported log in the same release order (decodeFacts does): then every decision is re-derived
// from exactly the state it was taken from. Replay and the dashboard's file view fold in stream
// order, so `--at SEQ` shows every event stored up to SEQ (they differ from the live fold only
// where a batch was split, and only until its signed event).
import type { Envelope } from "./envelope.js";

/**
 * `events` (stream order) in release order: an unsigned event moves to just before the next signed
 * event of its actor. Events no later signature covers (an unsigned tail, which verifyLog refuses)
 * are left out, as the live reader never folds them. Stable: a log whose batches are contiguous
 * comes back in the same order.
 */
export const inReleaseOrder = (events: Iterable<Envelope>): Envelope[] => {
  const out: Envelope[] = [];
  const held = new Map<string, Envelope[]>();
  for (const e of events) {
    if (e.sig === undefined) {
      const h = held.get(e.actor);
      if (h === undefined) held.set(e.actor, [e]);
      else h.push(e);
      continue;
    }
    out.push(...(held.get(e.actor) ?? []), e);
    held.delete(e.actor);
  }
  return out;
};

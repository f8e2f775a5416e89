// Tells an actor's own chain from foreign messages on its subject, for a writer whose append met
// a subject that moved on: another session of the same hotkey (a real conflict) or a stranger.
import { IngestGate } from "../../events/ingest.js";
import type { ActorHead } from "../../events/link.js";
import { vocabularyRegistry } from "../../events/vocabulary.js";
import { ForeignMessage } from "../eventlog/errors.js";
import type { RawEntry } from "../eventlog/service.js";
import { nodeCrypto } from "../identity/index.js";
import { ingestMaxBytes } from "../nats/definitions.js";

export interface TailVerdict {
  /** Some message is a signed event of the actor extending `head`: its chain moved on elsewhere. */
  readonly own: boolean;
  /** The other messages, in stream order. */
  readonly foreign: readonly ForeignMessage[];
}

const idOf = (data: Uint8Array): string | undefined => {
  try {
    const id: unknown = (JSON.parse(new TextDecoder().decode(data)) as { id?: unknown }).id;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Judges `entries`, the messages on `actor`'s subject after the writer's last append, in stream
 * order, against the head the writer's batch extends (undefined: a chain not begun). The ingest
 * gate every reader uses decides: a message is the actor's own when the gate releases it as an
 * event of `actor` extending `head`, i.e. signed under the session key in force there or one a
 * later certificate of the hotkey names, or covered by such a signature. Unsigned events never
 * covered prove nothing (anyone can compute a hash chain) and are foreign, except `mine`: the ids
 * of the writer's own batch, part of which may have landed before the conflict.
 */
export const judgeTail = (run: string, actor: string, head: ActorHead | undefined, entries: readonly RawEntry[], mine: ReadonlySet<string>): TailVerdict => {
  const gate = new IngestGate(nodeCrypto, vocabularyRegistry(), { run, maxBytes: ingestMaxBytes(), heads: head === undefined ? [] : [[actor, head]] });
  const foreign = new Map<number, ForeignMessage>();
  const held = new Map<string, RawEntry>();
  let own = false;
  const note = (e: RawEntry, reason: string, detail: string): void => {
    foreign.set(e.seq, new ForeignMessage({ run, actor, seq: e.seq, reason, message: `stream seq ${e.seq} on ${actor}'s subject is not its event: ${reason}: ${detail}` }));
  };
  for (const e of entries) {
    const r = gate.offer(e.data);
    if (r._tag === "Rejected") note(e, r.error._tag, r.error.detail);
    else if (r._tag === "Held") {
      const id = idOf(e.data);
      if (id !== undefined && !mine.has(id)) held.set(id, e);
    } else
      for (const ev of r.events) {
        held.delete(ev.id); // covered by a signature after all
        if (ev.actor !== actor) note(e, "OtherActor", `an event of actor ${ev.actor}`);
        else if (!mine.has(ev.id)) own = true;
      }
  }
  for (const e of held.values()) note(e, "Unsigned", "an unsigned event that no signature of the actor covers");
  return { own, foreign: [...foreign.values()].sort((a, b) => a.seq - b.seq) };
};

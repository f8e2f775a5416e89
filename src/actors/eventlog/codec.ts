// Bytes on the bus for one envelope, and the checks an append makes before it writes anything.
import { Effect } from "effect";
import type { Envelope } from "../../events/envelope.js";
import { isToken } from "../../events/subjects.js";
import { AppendRejected, UnreadableEntry } from "./errors.js";
import type { LogEntry, RawEntry } from "./service.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The wire form of an envelope: its JSON, UTF-8. */
export const encodeEnvelope = (e: Envelope): Uint8Array => encoder.encode(JSON.stringify(e));

/** Parses a stored message; a non-JSON message fails with UnreadableEntry naming its sequence. */
export const parseEntry = (run: string, e: RawEntry): LogEntry | UnreadableEntry => {
  try {
    return { seq: e.seq, envelope: JSON.parse(decoder.decode(e.data)) as Envelope };
  } catch (err) {
    return new UnreadableEntry({ run, seq: e.seq, subject: e.subject, message: String(err) });
  }
};

export const decodeEntry = (run: string, e: RawEntry): Effect.Effect<LogEntry, UnreadableEntry> => {
  const r = parseEntry(run, e);
  return r instanceof UnreadableEntry ? Effect.fail(r) : Effect.succeed(r);
};

/** An actor appends only its own envelopes of this run, under a valid subject token. */
export const checkAppend = (run: string, actor: string, envelopes: readonly Envelope[]): AppendRejected | undefined => {
  if (!isToken(run) || !isToken(actor)) {
    return new AppendRejected({ run, actor, message: "run and actor must be subject tokens ([A-Za-z0-9_-], 1-64 chars)" });
  }
  for (const e of envelopes) {
    if (e.run !== run || e.actor !== actor) {
      return new AppendRejected({ run, actor, message: `event ${e.id} belongs to run ${e.run}, actor ${e.actor}` });
    }
  }
  return undefined;
};

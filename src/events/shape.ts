// Reading an untrusted JSON value as an Envelope: exact keys, field types and formats, checked by
// hand because it runs on every replayed event (a schema decoder here would dominate replay time).
import type { Envelope } from "./envelope.js";
import { isToken } from "./subjects.js";

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
/** Event ids travel as JetStream msgIDs and in `cause` lists; keep them short and printable. */
export const MAX_ID_LENGTH = 128;
const ID = /^[\x21-\x7e]{1,128}$/;
const KEYS = new Set(["id", "type", "v", "run", "actor", "seq", "prev", "cause", "step", "at", "payload", "hash", "sig"]);

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);
const isCount = (u: unknown, min: number): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= min;

/**
 * `u` as an Envelope, or a sentence saying what is wrong with it. Unknown keys are refused: the
 * hash does not cover them, so accepting them would let anyone add unauthenticated data.
 */
export const readEnvelope = (u: unknown): Envelope | string => {
  if (!isRecord(u)) return "event is not a JSON object";
  for (const k in u) if (!KEYS.has(k)) return `unknown envelope field ${JSON.stringify(k.slice(0, 40))}`;
  const { id, type, v, run, actor, seq, prev, cause, step, at, hash, sig } = u;
  if (typeof id !== "string" || !ID.test(id)) return "id must be 1-128 printable ASCII characters";
  if (typeof type !== "string" || !isToken(type)) return "type must be a name of [A-Za-z0-9_-]";
  if (!isCount(v, 1)) return "v must be a positive integer";
  if (typeof run !== "string" || !isToken(run)) return "run must be a subject token";
  if (typeof actor !== "string" || !isToken(actor)) return "actor must be a subject token";
  if (!isCount(seq, 1)) return "seq must be a positive integer";
  if (typeof prev !== "string" || !HEX64.test(prev)) return "prev must be 64 lowercase hex digits";
  if (!Array.isArray(cause)) return "cause must be an array of event ids";
  for (const c of cause as unknown[]) if (typeof c !== "string" || !ID.test(c)) return "cause must hold event ids";
  if (!isCount(step, 0)) return "step must be a non-negative integer";
  if (!isCount(at, 0)) return "at must be a non-negative integer (milliseconds)";
  if (!("payload" in u) || u.payload === undefined) return "payload is missing";
  if (typeof hash !== "string" || !HEX64.test(hash)) return "hash must be 64 lowercase hex digits";
  if (sig !== undefined && (typeof sig !== "string" || !HEX128.test(sig))) return "sig must be 128 lowercase hex digits";
  return u as unknown as Envelope;
};

// Reading a stored envelope laid out exactly as a producer writes it, without JSON.parse of the
// whole message: the fixed header is cut with indexOf/slice and only the payload is parsed.
import { countKeys, HASH_SUFFIX, scanMembers, SIG_SUFFIX } from "./canonical.js";

/** A message read by layout: the value JSON.parse would give, and where its canonical body ends. */
export interface CanonicalMessage {
  /** Equal to JSON.parse(text), keys in the same order; not yet checked (see readEnvelope). */
  readonly value: Record<string, unknown>;
  /**
   * n such that canonicalBody(value) is the bytes [0, n) followed by "}" (see canonical.ts), or -1
   * when the payload is not provably canonical (then re-serialise to hash). Holds only once
   * readEnvelope has accepted `value`: that makes every header string printable ASCII, so text
   * offsets are byte offsets.
   */
  readonly bodyLength: number;
}

const HASH_MARK = ',"hash":"';
const SIG_MARK = '","sig":"';
const BACKSLASH = "\\";

/** Reads a canonical non-negative integer (no sign, no leading zero, <= 15 digits) at `p`. */
const intAt = (t: string, p: number, out: { value: number; end: number }): boolean => {
  let i = p;
  let value = 0;
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
  }
  const digits = i - p;
  if (digits === 0 || digits > 15 || (digits > 1 && t.charCodeAt(p) === 0x30)) return false;
  out.value = value;
  out.end = i;
  return true;
};

/**
 * `text` (the fatal UTF-8 decoding of `bytes`) read by the producer's layout
 * `{"id":"…","type":"…","v":N,"run":"…","actor":"…","seq":N,"prev":"…","cause":[…],"step":N,
 * "at":N,"payload":P,"hash":"<64>"[,"sig":"<128>"]}` with no backslash in the header strings,
 * or undefined for anything else (the caller then uses JSON.parse).
 *
 * Why the value equals JSON.parse(text): JSON's grammar is deterministic, the header's keys and
 * punctuation are matched literally, its strings hold no escapes (no backslash; a quote ends
 * them, as in JSON), its integers are plain digits, and P, the text between `"payload":` and the
 * fixed-length hash/sig suffix, is itself parsed by JSON.parse. A JSON value is self-delimiting
 * before a comma, so JSON.parse of the whole text reads the same P and the same fields, in the
 * same order, with no duplicate keys. JSON.parse refuses raw control characters in strings and
 * this reader does not; readEnvelope refuses them in every header field, so a value it accepts is
 * one JSON.parse gives too. Callers must fall back to JSON.parse when readEnvelope refuses it.
 */
export const readCanonical = (t: string, bytes: Uint8Array): CanonicalMessage | undefined => {
  const n = t.length;
  if (t.charCodeAt(n - 1) !== 0x7d || t.charCodeAt(n - 2) !== 0x22 || !t.startsWith('{"id":"')) return undefined;
  // The suffix, from the end: with a signature it is 212 characters, without 75.
  let suffix = HASH_SUFFIX;
  let sig: string | undefined;
  if (n > HASH_SUFFIX + SIG_SUFFIX && t.startsWith(SIG_MARK, n - 139) && t.startsWith(HASH_MARK, n - 212)) {
    suffix = HASH_SUFFIX + SIG_SUFFIX;
    sig = t.slice(n - 130, n - 2);
  } else if (!t.startsWith(HASH_MARK, n - 75)) return undefined;
  const hashAt = n - suffix;
  const hash = t.slice(hashAt + 9, hashAt + 73);

  const num = { value: 0, end: 0 };
  let q = t.indexOf('"', 7);
  if (q < 0) return undefined;
  const id = t.slice(7, q);
  if (id.includes(BACKSLASH) || !t.startsWith('","type":"', q)) return undefined;
  let p = q + 10;
  q = t.indexOf('"', p);
  const type = t.slice(p, q);
  if (q < 0 || !t.startsWith('","v":', q) || !intAt(t, q + 6, num)) return undefined;
  const v = num.value;
  if (!t.startsWith(',"run":"', num.end)) return undefined;
  p = num.end + 8;
  q = t.indexOf('"', p);
  const run = t.slice(p, q);
  if (q < 0 || !t.startsWith('","actor":"', q)) return undefined;
  p = q + 11;
  q = t.indexOf('"', p);
  const actor = t.slice(p, q);
  if (q < 0 || !t.startsWith('","seq":', q) || !intAt(t, q + 8, num)) return undefined;
  const seq = num.value;
  if (!t.startsWith(',"prev":"', num.end)) return undefined;
  p = num.end + 9;
  q = t.indexOf('"', p);
  const prev = t.slice(p, q);
  if (q < 0 || !t.startsWith('","cause":[', q)) return undefined;
  p = q + 11;
  const cause: string[] = [];
  if (t.charCodeAt(p) !== 0x5d) {
    for (;;) {
      if (t.charCodeAt(p) !== 0x22) return undefined;
      q = t.indexOf('"', p + 1);
      if (q < 0) return undefined;
      const c = t.slice(p + 1, q);
      if (c.includes(BACKSLASH)) return undefined;
      cause.push(c);
      p = q + 1;
      const next = t.charCodeAt(p);
      if (next === 0x5d) break;
      if (next !== 0x2c) return undefined;
      p += 1;
    }
  }
  if (!t.startsWith('],"step":', p) || !intAt(t, p + 9, num)) return undefined;
  const step = num.value;
  if (!t.startsWith(',"at":', num.end) || !intAt(t, num.end + 6, num)) return undefined;
  const at = num.value;
  if (!t.startsWith(',"payload":', num.end)) return undefined;
  const payloadAt = num.end + 11;
  if (payloadAt >= hashAt) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(t.slice(payloadAt, hashAt));
  } catch {
    return undefined;
  }
  const value: Record<string, unknown> =
    sig === undefined
      ? { id, type, v, run, actor, seq, prev, cause, step, at, payload, hash }
      : { id, type, v, run, actor, seq, prev, cause, step, at, payload, hash, sig };
  // The header is canonical by construction; the payload by canonical.ts's conditions 1-5.
  const bodyEnd = bytes.length - suffix;
  const keys = countKeys(payload);
  const canonical = keys >= 0 && payloadAt < bodyEnd && scanMembers(bytes, payloadAt, bodyEnd) === keys;
  return { value, bodyLength: canonical ? bodyEnd : -1 };
};

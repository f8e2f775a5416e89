// Hashing an envelope's stored bytes without re-serialising it: a one-pass check that the bytes are
// already canonical, so the canonical body is a byte range of the message (plus its closing brace).
import type { Envelope } from "./envelope.js";

/*
 * Why hashing the stored bytes is sound.
 *
 * `hash` is defined over canonicalBody(e): JSON.stringify of the body fields in a fixed order.
 * A producer (ActorChain.seal + JSON.stringify of the envelope) writes exactly
 *     canonicalBody(e) minus its final "}"  +  ,"hash":"<64 hex>"  [ ,"sig":"<128 hex>" ]  +  "}"
 * so the body is the message's bytes [0, n) followed by "}". The verifier used to rebuild that
 * text from the parsed envelope. It may instead hash the stored bytes, but only when it has
 * proved that they ARE that text, i.e. T === JSON.stringify(JSON.parse(T)) for the message text
 * T and the envelope's keys are in canonical order. Then the bytes hashed are exactly the UTF-8
 * of canonicalBody(parsed envelope): the verdict is the one re-serialising gives, for every
 * input. When the proof fails (a non-canonical message: whitespace, other escapes, duplicate
 * keys, reordered keys, exotic numbers) the caller falls back to re-serialising, so a forged
 * non-canonical body is judged exactly as before: its hash is checked against the canonical text,
 * never against its own bytes. Nothing the hash does not commit to is ever accepted.
 *
 * The proof (`canonicalBodyLength`): T = UTF-8 decode of the bytes B (fatal decoding, so B is
 * valid UTF-8 and T has no lone surrogates), JSON.parse(T) = V is an envelope, and
 *  1. outside string literals B holds no whitespace (only { } [ ] , : digits - and the letters of
 *     true/false/null);
 *  2. inside string literals the only escapes are \" \\ \b \f \n \r \t. JSON.stringify writes
 *     exactly these for " \ U+0008 U+000C U+000A U+000D U+0009, and every other character of a
 *     well-formed string (>= U+0020, not " or \) literally; JSON.parse has already refused raw
 *     control characters. So every string literal is re-serialised to the same text;
 *  3. every number literal is an integer of at most 15 digits, no fraction or exponent, not -0,
 *     so its double is exact and prints back as the same digits;
 *  4. the number of object members in B (":" outside strings) equals the number of own keys of
 *     all objects in V: JSON.parse merges duplicate keys, so equality means there were none;
 *  5. no object in V has a key starting with a digit: V8 enumerates array-index keys first, so
 *     without them every object's keys come back in text order.
 * Under 1-5 JSON.stringify(V) walks V in text order and prints every token as it was written:
 * T === JSON.stringify(V). With V's top-level keys in the canonical order (checked by the caller),
 * T is canonicalBody(V) without its "}" plus the fixed ,"hash"/,"sig" suffix, all ASCII.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
/** Longest integer literal accepted on the fast path: 15 digits are exact in a double. */
const MAX_DIGITS = 15;
/** Payload nesting followed before giving up (the fallback handles anything deeper). */
const MAX_DEPTH = 64;

/** The escapes JSON.stringify writes: " \ b f n r t. */
const SHORT_ESCAPE = new Uint8Array(128);
for (const c of '"\\bfnrt') SHORT_ESCAPE[c.charCodeAt(0)] = 1;
/** Bytes allowed outside string literals (besides digits, handled as numbers). */
const STRUCTURAL = new Uint8Array(128);
for (const c of "{}[],:abcdefghijklmnopqrstuvwxyz") STRUCTURAL[c.charCodeAt(0)] = 1;

/**
 * Object members (":" outside strings) in `b[start, end)`, or -1 unless conditions 1-3 above hold.
 * The range must be JSON that JSON.parse accepted, so strings are terminated and tokens well-formed.
 */
export const scanMembers = (b: Uint8Array, start = 0, end = b.length): number => {
  let members = 0;
  let i = start;
  while (i < end) {
    const c = b[i] as number;
    if (c === QUOTE) {
      i += 1;
      for (;;) {
        if (i >= end) return -1;
        const d = b[i] as number;
        if (d === QUOTE) break;
        if (d === BACKSLASH) {
          const x = b[i + 1] ?? 0;
          if (x >= 128 || SHORT_ESCAPE[x] !== 1) return -1;
          i += 2;
        } else i += 1;
      }
      i += 1;
    } else if (c === COLON) {
      members += 1;
      i += 1;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      let j = c === MINUS ? i + 1 : i;
      if (c === MINUS && b[j] === ZERO) return -1;
      const start = j;
      while (j < end && (b[j] as number) >= ZERO && (b[j] as number) <= NINE) j += 1;
      if (j === start || j - start > MAX_DIGITS) return -1;
      const t = b[j];
      if (t === 0x2e || t === 0x65 || t === 0x45) return -1; // . e E
      i = j;
    } else if (c < 128 && STRUCTURAL[c] === 1) i += 1;
    else return -1;
  }
  return members;
};

/** Own keys of every object in `v` (conditions 4 and 5), or -1 when a key starts with a digit. */
export const countKeys = (v: unknown, depth = 0): number => {
  if (typeof v !== "object" || v === null) return 0;
  if (depth > MAX_DEPTH) return -1;
  let n = 0;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const k = countKeys(v[i], depth + 1);
      if (k < 0) return -1;
      n += k;
    }
    return n;
  }
  const o = v as Record<string, unknown>;
  for (const key in o) {
    if (!Object.hasOwn(o, key)) return -1;
    const c = key.charCodeAt(0);
    if (c >= ZERO && c <= NINE) return -1;
    const k = countKeys(o[key], depth + 1);
    if (k < 0) return -1;
    n += 1 + k;
  }
  return n;
};

/** The canonical order of an envelope's keys, as the producer writes them. */
const ORDER = ["id", "type", "v", "run", "actor", "seq", "prev", "cause", "step", "at", "payload", "hash", "sig"] as const;

/** `,"hash":"<64>"` + `}` and `,"sig":"<128>"`: the bytes after the body's last payload byte. */
export const HASH_SUFFIX = 9 + 64 + 1 + 1;
export const SIG_SUFFIX = 8 + 128 + 1;

/**
 * For the stored bytes `b` of an envelope `e` (`e` = JSON.parse of their fatal UTF-8 decoding,
 * already checked by readEnvelope): the length n such that canonicalBody(e) is exactly the UTF-8
 * bytes b[0, n) followed by "}", or -1 when that cannot be proved cheaply (then re-serialise).
 * See the argument at the top of this file.
 */
export const canonicalBodyLength = (b: Uint8Array, e: Envelope): number => {
  let i = 0;
  for (const key in e) {
    if (key !== ORDER[i]) return -1;
    i += 1;
  }
  const top = e.sig === undefined ? 12 : 13;
  if (i !== top) return -1;
  const payloadKeys = countKeys(e.payload, 0);
  if (payloadKeys < 0) return -1;
  if (scanMembers(b) !== top + payloadKeys) return -1;
  const n = b.length - HASH_SUFFIX - (e.sig === undefined ? 0 : SIG_SUFFIX);
  // Implied by the proof; checked so a mistake in it shows as a slow path, not a wrong hash.
  return n > 0 && b[n] === 0x2c && b[b.length - 1] === 0x7d ? n : -1;
};

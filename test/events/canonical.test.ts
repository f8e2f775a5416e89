import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalBodyLength } from "../../src/events/canonical.js";
import { readCanonical } from "../../src/events/canonical-read.js";
import { readEnvelope } from "../../src/events/shape.js";
import { canonicalBody, type Envelope } from "../../src/events/envelope.js";
import { LogVerifier } from "../../src/events/verify.js";
import { crypto, registry, small } from "./support.js";

const encoder = new TextEncoder();
const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const bytesOf = (text: string): Uint8Array => encoder.encode(text);
/** What the verifier parses from stored bytes. */
const parsed = (b: Uint8Array): Envelope => JSON.parse(fatal.decode(b)) as Envelope;
/** The body the fast path hashes: the stored bytes [0, n) and a closing brace. */
const bodyBytes = (b: Uint8Array, n: number): Uint8Array => new Uint8Array([...b.subarray(0, n), 0x7d]);
const lengthOf = (text: string): number => {
  const b = bytesOf(text);
  return canonicalBodyLength(b, parsed(b));
};

const events = small.events;
const signed = events.find((e) => e.sig !== undefined) as Envelope;
const unsigned = events.find((e) => e.sig === undefined) as Envelope;
/** An envelope with a payload of our choosing (canonicalBodyLength does not look at schemas). */
const withPayload = (payload: unknown, base: Envelope = signed): Envelope => ({ ...base, payload });

describe("canonicalBodyLength", () => {
  it("cuts the canonical body out of every message an honest producer writes", () => {
    for (const e of events) {
      const b = bytesOf(JSON.stringify(e));
      const n = canonicalBodyLength(b, parsed(b));
      expect(n).toBeGreaterThan(0);
      expect(bodyBytes(b, n)).toEqual(bytesOf(canonicalBody(e)));
      expect(crypto.sha256HexBytes?.(bodyBytes(b, n))).toBe(e.hash);
    }
  });

  it("handles payload strings with escapes, non-ASCII text and nested arrays and objects", () => {
    const e = withPayload({ s: 'quote " back \\ nl \n tab \t', u: "żółw ☃ 𝄞", deep: [{ a: [1, -2, { b: null }] }, true, false], n: -123456789012345 });
    const text = JSON.stringify(e);
    const n = lengthOf(text);
    expect(bodyBytes(bytesOf(text), n)).toEqual(bytesOf(canonicalBody(e)));
  });

  it("declines whatever JSON.stringify would not have written, so the verifier re-serialises", () => {
    const text = JSON.stringify(withPayload({ s: "a/b", k: 5, o: { x: 1 } }));
    const { hash: _h, sig: _s, ...body } = withPayload({ s: "a/b", k: 5, o: { x: 1 } });
    const variants = {
      whitespace: JSON.stringify(withPayload({ s: "a/b", k: 5, o: { x: 1 } }), null, 1),
      "one space": text.replace('"k":5', '"k": 5'),
      "escaped slash": text.replace("a/b", "a\\/b"),
      "unicode escape": text.replace("a/b", "\\u0061/b"),
      fraction: text.replace('"k":5', '"k":5.0'),
      exponent: text.replace('"k":5', '"k":5e0'),
      "minus zero": text.replace('"k":5', '"k":-0'),
      "16 digits": text.replace('"k":5', '"k":1234567890123456'),
      "duplicate key": text.replace('"o":{"x":1}', '"o":{"x":0,"x":1}'),
      "duplicate envelope key": text.replace('"v":1,', '"v":2,"v":1,'),
      "reordered envelope keys": JSON.stringify(Object.fromEntries([["v", body.v], ...Object.entries(body).filter(([k]) => k !== "v"), ["hash", signed.hash], ["sig", signed.sig]])),
      "sig before hash": JSON.stringify({ ...body, sig: signed.sig, hash: signed.hash }),
    };
    for (const [name, v] of Object.entries(variants)) {
      expect(JSON.parse(v), name).toBeTypeOf("object");
      expect(lengthOf(v), name).toBe(-1);
    }
    // Already canonical, but V8 would enumerate the index key first: declined as well.
    expect(lengthOf(JSON.stringify(withPayload({ b: 0, 1: 0 })))).toBe(-1);
  });

  it("never vouches for bytes that are not exactly the canonical body (property)", () => {
    const layouts = fc.constantFrom<(e: Envelope) => string>(
      (e) => JSON.stringify(e),
      (e) => JSON.stringify(e, null, 1),
      (e) => JSON.stringify(e).replace(/":(\d)/, '": $1'),
      (e) => JSON.stringify(e).replace(/[a-z]"/, (m) => `\\u00${m.charCodeAt(0).toString(16)}"`),
      (e) => JSON.stringify(e).replace(/(\d)([,}\]])/, "$1.0$2"),
    );
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), layouts, (payload, sign, layout) => {
        const e = withPayload(payload, sign ? signed : unsigned);
        const b = bytesOf(layout(e));
        const back = parsed(b);
        const n = canonicalBodyLength(b, back);
        if (n >= 0) expect(bodyBytes(b, n)).toEqual(bytesOf(canonicalBody(back)));
      }),
      { numRuns: 2000, seed: 11 },
    );
  });
});

describe("readCanonical", () => {
  const read = (text: string) => readCanonical(fatal.decode(bytesOf(text)), bytesOf(text));

  it("reads every message an honest producer writes, as JSON.parse would, with its body length", () => {
    for (const e of events) {
      const text = JSON.stringify(e);
      const r = read(text);
      expect(r).toBeDefined();
      expect(JSON.stringify(r?.value)).toBe(text);
      expect(r?.value).toEqual(JSON.parse(text));
      expect(r?.bodyLength).toBe(canonicalBodyLength(bytesOf(text), e));
    }
  });

  it("gives up on other layouts: spaces, escaped ids, reordered or missing fields, signs and leading zeros", () => {
    const text = JSON.stringify(signed);
    for (const v of [
      JSON.stringify(signed, null, 1),
      text.replace(`"id":"${signed.id}"`, `"id":"a\\b"`),
      text.replace('"v":1,', '"v":01,'),
      text.replace('"v":1,', '"v":-1,'),
      text.replace('"v":1,"run"', '"run"').replace('"actor"', '"v":1,"actor"'),
      text.replace(`,"sig":"${signed.sig}"`, ""),
      text.replace(/,"hash":"[0-9a-f]+"/, ""),
    ]) {
      const r = read(v);
      if (r !== undefined) expect(typeof readEnvelope(r.value) === "string" || JSON.stringify(r.value) === JSON.stringify(JSON.parse(v))).toBe(true);
    }
    expect(read(JSON.stringify(signed, null, 1))).toBeUndefined();
    expect(read(text.replace(`"id":"${signed.id}"`, `"id":"a\\b"`))).toBeUndefined();
    expect(read(text.replace('"v":1,', '"v":01,'))).toBeUndefined();
  });

  it("reads only what JSON.parse reads the same way, and vouches only for canonical bodies (property)", () => {
    const ids = fc.oneof(fc.stringMatching(/^[\x21-\x7e]{1,12}$/), fc.string({ minLength: 1, maxLength: 6 }), fc.constant('a"b'), fc.constant("a\u0001b"));
    const layouts = fc.constantFrom<(e: Envelope) => string>(
      (e) => JSON.stringify(e),
      (e) => JSON.stringify(e, null, 1),
      (e) => JSON.stringify(e).replace(/":(\d)/, '": $1'),
      (e) => JSON.stringify(e).replace(/(\d)([,}\]])/, "$1.0$2"),
      (e) => JSON.stringify(e).replace(',"hash"', ',"hash":"x","hash"'),
      // Only the payload re-formatted: the header stays in the producer's layout.
      (e) => JSON.stringify(e).replace(`"payload":${JSON.stringify(e.payload)}`, `"payload":${JSON.stringify(e.payload, null, 1)}`),
      (e) => JSON.stringify(e).replace(`"payload":${JSON.stringify(e.payload)}`, `"payload":${JSON.stringify(e.payload).replace(/[a-z]"/, (m) => `\\u00${m.charCodeAt(0).toString(16)}"`)}`),
      (e) => JSON.stringify(e).replace(`"payload":${JSON.stringify(e.payload)}`, `"payload":${JSON.stringify(e.payload).replace(/(\d)([,}\]])/, "$1.0$2")}`),
    );
    // Count the inputs the reader took, so the property cannot pass by declining everything.
    let accepted = 0;
    fc.assert(
      fc.property(fc.jsonValue(), ids, fc.array(ids, { maxLength: 3 }), fc.boolean(), layouts, (payload, id, cause, sign, layout) => {
        const e = { ...withPayload(payload, sign ? signed : unsigned), id, cause };
        const b = bytesOf(layout(e));
        let text: string;
        try {
          text = fatal.decode(b);
        } catch {
          return;
        }
        const r = readCanonical(text, b);
        if (r === undefined || typeof readEnvelope(r.value) === "string") return;
        accepted += 1;
        expect(JSON.stringify(r.value)).toBe(JSON.stringify(JSON.parse(text)));
        expect(r.value).toEqual(JSON.parse(text));
        if (r.bodyLength >= 0) expect(bodyBytes(b, r.bodyLength)).toEqual(bytesOf(canonicalBody(r.value as unknown as Envelope)));
      }),
      { numRuns: 3000, seed: 5 },
    );
    expect(accepted).toBeGreaterThan(100);
  });
});

describe("LogVerifier.message", () => {
  const verifyMessages = (texts: readonly string[]) => {
    const v = new LogVerifier(crypto, registry, { run: "t" });
    texts.forEach((t, i) => v.message(i + 1, bytesOf(t)));
    return v.result();
  };
  const verifyParsed = (texts: readonly string[]) => {
    const v = new LogVerifier(crypto, registry, { run: "t" });
    texts.forEach((t, i) => v.event(i + 1, JSON.parse(t)));
    return v.result();
  };
  const stored = events.map((e) => JSON.stringify(e));
  const i = events.findIndex((e, k) => k > 4 && e.sig === undefined);

  it("accepts an honest run from its stored bytes", () => {
    expect(verifyMessages(stored)).toEqual({ ok: true, events: events.length, actors: 3 });
  });

  it("accepts a re-formatted but honest message on the re-serialising path, as before", () => {
    const pretty = stored.map((t, k) => (k === i ? JSON.stringify(events[k], null, 2) : t));
    expect(verifyMessages(pretty)).toEqual(verifyParsed(pretty));
    expect(verifyMessages(pretty).ok).toBe(true);
  });

  it("rejects a forged message whose hash is taken over its own non-canonical bytes", () => {
    const e = events[i] as Envelope;
    // The body as written (with a space), hashed as written: only the canonical text counts.
    const body = canonicalBody({ ...e, step: e.step + 1 }).replace('"step":', '"step": ');
    const forged = `${body.slice(0, -1)},"hash":"${crypto.sha256Hex(body)}"}`;
    const texts = stored.map((t, k) => (k === i ? forged : t));
    expect(verifyMessages(texts)).toMatchObject({ ok: false, index: i + 1, eventId: e.id, reason: "BadHash" });
    expect(verifyMessages(texts)).toEqual(verifyParsed(texts));
  });

  it("judges a header with a raw control character as JSON.parse does (not JSON)", () => {
    const raw = (stored[0] as string).replace(`"id":"${events[0]?.id}"`, `"id":"a\u0001b"`);
    expect(raw).toContain("\u0001");
    expect(verifyMessages([raw])).toMatchObject({ ok: false, index: 1, reason: "InvalidEntry" });
  });

  it("names a message that is not JSON or not UTF-8 as before", () => {
    const v = new LogVerifier(crypto, registry, { run: "t" });
    v.message(1, new Uint8Array([0xff, 0xfe, 0x7b]));
    expect(v.result()).toMatchObject({ ok: false, index: 1, reason: "InvalidEntry" });
    expect(verifyMessages(["\uFEFF" + (stored[0] as string)])).toMatchObject({ ok: true });
  });
});

import { describe, expect, it } from "vitest";
import { certifySessionKey, loadHotkey, sessionKey } from "../../src/actors/identity/index.js";
import { ActorChain, sessionCertifiedDraft } from "../../src/events/chain.js";
import type { Envelope } from "../../src/events/envelope.js";
import { formatLogHeader, formatRefusedLine } from "../../src/events/jsonl.js";
import { LogVerifier, verifyLog } from "../../src/events/verify.js";
import { crypto, lineOf, logOf, registry, rehashed, small } from "./support.js";

const events = small.events;
const verify = (lines: Iterable<string>, full = false) => verifyLog(crypto, registry, lines, { fullSignatures: full });
const at = (i: number) => ({ ok: false, index: lineOf(i), eventId: events[i]?.id });
const lastSignedOf = (actor: string) => events.reduce((k, e, i) => (e.actor === actor ? i : k), -1);
const middleUnsigned = events.findIndex((e, i) => i > 4 && e.sig === undefined);
const middleSigned = events.findIndex((e, i) => i > 4 && e.sig !== undefined && i !== lastSignedOf(e.actor));
const replace = (i: number, e: Envelope) => events.map((x, k) => (k === i ? e : x));

describe("verifyLog on a well-formed log", () => {
  it("accepts the whole run and counts events and actors", () => {
    expect(verify(small.lines)).toEqual({ ok: true, events: events.length, actors: 3 });
    expect(verify(small.lines, true)).toEqual({ ok: true, events: events.length, actors: 3 });
  });

  it("skips blank lines", () => {
    expect(verify([...small.lines, "", "  "]).ok).toBe(true);
  });

  it("refuses a header-only log: a log without events vouches for nothing", () => {
    expect(verify([formatLogHeader("t"), ""])).toMatchObject({ ok: false, index: 2, reason: "NoEvents" });
    expect(verify([formatLogHeader("t", 0)])).toMatchObject({ ok: false, reason: "NoEvents" });
  });

  it("refuses a log that holds fewer lines than its header records: Truncated", () => {
    const counted = [formatLogHeader("t", events.length), ...small.lines.slice(1)];
    expect(verify(counted)).toEqual({ ok: true, events: events.length, actors: 3 });
    expect(verify([formatLogHeader("t", events.length)])).toMatchObject({ ok: false, reason: "Truncated", detail: expect.stringContaining(`1..${events.length}`) as string });
    expect(verify(counted.slice(0, -1))).toMatchObject({ ok: false, reason: "Truncated" });
  });

  it("verifies events fed straight from a stream when given the run", () => {
    const v = new LogVerifier(crypto, registry, { run: "t" });
    events.forEach((e, i) => v.event(i + 1, JSON.parse(JSON.stringify(e))));
    expect(v.result()).toEqual({ ok: true, events: events.length, actors: 3 });
  });
});

describe("verifyLog names the first bad event", () => {
  it("an altered payload: BadHash", () => {
    const e = events[middleUnsigned] as Envelope;
    expect(verify(logOf(replace(middleUnsigned, { ...e, step: e.step + 1 })))).toMatchObject({ ...at(middleUnsigned), reason: "BadHash" });
  });

  it("an altered and re-hashed event breaks the link of its successor", () => {
    const e = events[middleUnsigned] as Envelope;
    const next = events.findIndex((x, k) => k > middleUnsigned && x.actor === e.actor);
    expect(verify(logOf(replace(middleUnsigned, rehashed(e, { step: 99 }))))).toMatchObject({ ...at(next), reason: "BrokenChain" });
  });

  it("an altered and re-hashed signed event: BadSignature (with or without full signatures when it is a head)", () => {
    const last = lastSignedOf(events[2]?.actor ?? "");
    const forged = logOf(replace(last, rehashed(events[last] as Envelope, { step: 99 })));
    expect(verify(forged)).toMatchObject({ ...at(last), reason: "BadSignature" });
    expect(verify(forged, true)).toMatchObject({ ...at(last), reason: "BadSignature" });
  });

  it("an event turned into a refused line breaks its actor's chain at the actor's next event", () => {
    const e = events[middleUnsigned] as Envelope;
    const next = events.findIndex((x, k) => k > middleUnsigned && x.actor === e.actor);
    const refused = formatRefusedLine({ seq: middleUnsigned + 1, refused: { subject: "s", reason: "MalformedJson", detail: "d" } });
    const lines = small.lines.map((l, k) => (k === lineOf(middleUnsigned) - 1 ? refused : l));
    expect(verify(lines)).toMatchObject({ ...at(next), reason: "BrokenChain" });
  });

  it("a refused line out of stream order: StreamOrder", () => {
    const refused = formatRefusedLine({ seq: 1, refused: { subject: "s", reason: "MalformedJson", detail: "d" } });
    expect(verify([...small.lines.slice(0, 3), refused])).toMatchObject({ ok: false, index: 4, reason: "StreamOrder" });
  });

  it("a removed event: StreamGap at the event after the hole", () => {
    const lines = small.lines.filter((_, k) => k !== lineOf(middleUnsigned) - 1);
    expect(verify(lines)).toMatchObject({ ok: false, index: lineOf(middleUnsigned), eventId: events[middleUnsigned + 1]?.id, reason: "StreamGap" });
  });

  it("a removed event with the stream renumbered: the actor chain or a cause breaks", () => {
    const r = verify(logOf(events.filter((_, k) => k !== middleUnsigned)));
    expect(r.ok).toBe(false);
    expect(["BrokenChain", "UnknownCause"]).toContain(!r.ok && r.reason);
  });

  it("a duplicated event: Duplicate, whatever its stream seq", () => {
    const i = middleUnsigned;
    const dup = [...small.lines.slice(0, lineOf(i)), small.lines[lineOf(i) - 1] as string, ...small.lines.slice(lineOf(i))];
    expect(verify(dup)).toMatchObject({ ok: false, index: lineOf(i) + 1, eventId: events[i]?.id, reason: "Duplicate" });
    const renumbered = logOf([...events.slice(0, i + 1), events[i] as Envelope, ...events.slice(i + 1)]);
    expect(verify(renumbered)).toMatchObject({ ok: false, index: lineOf(i) + 1, reason: "Duplicate" });
  });

  it("two events swapped: a stream gap at the first moved event; swapped and renumbered within one actor: BrokenChain", () => {
    const i = middleUnsigned;
    const swapped = [...small.lines];
    [swapped[lineOf(i) - 1], swapped[lineOf(i)]] = [swapped[lineOf(i)] as string, swapped[lineOf(i) - 1] as string];
    expect(verify(swapped)).toMatchObject({ ok: false, index: lineOf(i), eventId: events[i + 1]?.id, reason: "StreamGap" });
    const backwards = small.lines.map((l, k) => (k === lineOf(i) - 1 ? l.replace(/^\{"seq":\d+/, `{"seq":${i}`) : l));
    expect(verify(backwards)).toMatchObject({ ...at(i), reason: "StreamOrder" });
    const a = events[i] as Envelope;
    const j = events.findIndex((x, k) => k > i && x.actor === a.actor);
    const order = replace(i, events[j] as Envelope).map((x, k) => (k === j ? a : x));
    expect(verify(logOf(order))).toMatchObject({ ...at(i), eventId: events[j]?.id, reason: "BrokenChain" });
  });

  it("an event whose cause comes later: UnknownCause", () => {
    const e = events[middleUnsigned] as Envelope;
    const later = events[events.length - 1]?.id ?? "";
    const fixed = logOf(replace(middleUnsigned, rehashed(e, { cause: [later] })));
    // The rehash also breaks the actor's next link, but the cause is checked first, at this event.
    expect(verify(fixed)).toMatchObject({ ...at(middleUnsigned), reason: "UnknownCause" });
  });

  it("a stripped signature on an actor's last event: MissingSignature naming the uncovered range", () => {
    const last = lastSignedOf(events[2]?.actor ?? "");
    const { sig: _s, ...unsigned } = events[last] as Envelope;
    const r = verify(logOf(replace(last, unsigned)));
    expect(r).toMatchObject({ ...at(last), reason: "MissingSignature" });
    expect(!r.ok && r.detail).toMatch(/covered by no signature/);
  });

  it("a corrupted signature on a covered event: only full-signature mode sees it", () => {
    const e = events[middleSigned] as Envelope;
    const lines = logOf(replace(middleSigned, { ...e, sig: (e.sig ?? "").replace(/^./, (c) => (c === "0" ? "1" : "0")) }));
    expect(verify(lines).ok).toBe(true);
    expect(verify(lines, true)).toMatchObject({ ...at(middleSigned), reason: "BadSignature" });
  });

  it("an actor that does not open with a valid certificate: Uncertified", () => {
    const bob = loadHotkey("//Zed");
    const key = sessionKey(new Uint8Array(32).fill(42));
    const chain = new ActorChain(crypto, key, "t", bob.address);
    const noCert = chain.seal([{ id: "x-1", type: "ClockTicked", v: 1, step: 0, payload: { tick: 0 } }]);
    expect(verify(logOf([...events, ...noCert]))).toMatchObject({ ...at(events.length), eventId: "x-1", reason: "Uncertified" });
    const other = new ActorChain(crypto, key, "t", bob.address);
    const wrongRun = other.seal([sessionCertifiedDraft(certifySessionKey(bob, "elsewhere", key), { id: "x-1", step: 0 })]);
    expect(verify(logOf([...events, ...wrongRun]))).toMatchObject({ eventId: "x-1", reason: "Uncertified" });
    const alice = loadHotkey("//Alice");
    const stolen = new ActorChain(crypto, key, "t", bob.address);
    const borrowed = stolen.seal([sessionCertifiedDraft(certifySessionKey(alice, "t", key), { id: "x-1", step: 0 })]);
    expect(verify(logOf([...events, ...borrowed]))).toMatchObject({ eventId: "x-1", reason: "Uncertified" });
  });

  it("a bad header, bad JSON, an unknown field, another run and an unknown type, each by name", () => {
    expect(verify([])).toMatchObject({ ok: false, index: 1, reason: "BadHeader" });
    expect(verify(['{"swarmline":"log","format":2,"run":"t"}'])).toMatchObject({ ok: false, reason: "BadHeader" });
    expect(verify([small.lines[0] as string, "{not json"])).toMatchObject({ ok: false, index: 2, reason: "MalformedJson" });
    const e = events[0] as Envelope;
    expect(verify(logOf([{ ...e, extra: 1 } as Envelope]))).toMatchObject({ ...at(0), reason: "InvalidEnvelope" });
    expect(verify(logOf([e], "u"))).toMatchObject({ ...at(0), reason: "WrongRun" });
    expect(verify(logOf([rehashed(e, { type: "Nope" })]))).toMatchObject({ ...at(0), reason: "UnknownType" });
    expect(verify(logOf([rehashed(e, { v: 7 })]))).toMatchObject({ ...at(0), reason: "UnknownVersion" });
    expect(verify(logOf([rehashed(e, { payload: { hotkey: 1 } })]))).toMatchObject({ ...at(0), reason: "InvalidPayload" });
  });
});

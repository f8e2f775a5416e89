import { Schema } from "effect";
import { describe, expect, it } from "vitest";
import { certifySessionKey, loadHotkey, sessionKey } from "../../src/actors/identity/index.js";
import { ActorChain, sessionCertifiedDraft } from "../../src/events/chain.js";
import { type Envelope, SIGN_EVERY } from "../../src/events/envelope.js";
import { IngestGate, type IngestResult, MAX_HELD } from "../../src/events/ingest.js";
import { buildRegistry, defineEvent } from "../../src/events/registry.js";
import { coreEvents } from "../../src/events/schemas/index.js";
import { crypto, registry, rehashed, small } from "./support.js";

const gate = (reg = registry) => new IngestGate(crypto, reg, { run: "t", maxBytes: 8192 });
const wire = (e: unknown) => JSON.stringify(e);
const tagOf = (r: IngestResult) => (r._tag === "Rejected" ? r.error._tag : r._tag);
const feedAll = (g: IngestGate, es: readonly Envelope[]) => es.flatMap((e) => { const r = g.offer(wire(e)); return r._tag === "Accepted" ? r.events.map((x) => x.id) : []; });
const events = small.events;
const unsigned = events.findIndex((e, i) => i > 4 && e.sig === undefined);

/** A fresh actor //Zed on run "t" with `n` ticks sealed in one batch after its certificate. */
const zed = (n: number, key = 5) => {
  const hotkey = loadHotkey("//Zed");
  const s = sessionKey(new Uint8Array(32).fill(key));
  const chain = new ActorChain(crypto, s, "t", hotkey.address);
  const genesis = chain.seal([sessionCertifiedDraft(certifySessionKey(hotkey, "t", s), { id: "z-0", step: 0 })]);
  const ticks = chain.seal(Array.from({ length: n }, (_, i) => ({ id: `z-${i + 1}`, type: "ClockTicked", v: 1, step: i, payload: { tick: i } })));
  return [...genesis, ...ticks];
};

describe("IngestGate", () => {
  it("releases every event of a valid run once, in chain order, and holds nothing at the end", () => {
    const g = gate();
    expect(feedAll(g, events)).toEqual(events.map((e) => e.id));
    expect(g.heldCount()).toBe(0);
    expect(g.heads().size).toBe(3);
  });

  it("holds an unsigned event until its actor's next signature covers it", () => {
    const g = gate();
    const i = unsigned;
    for (const e of events.slice(0, i)) g.offer(wire(e));
    expect(g.offer(wire(events[i]))._tag).toBe("Held");
  });

  it("refuses each kind of bad input by name", () => {
    const g = gate();
    const e = events[0] as Envelope;
    expect(tagOf(g.offer("x".repeat(9000)))).toBe("Oversized");
    expect(tagOf(g.offer(new Uint8Array(9000)))).toBe("Oversized");
    expect(tagOf(g.offer("{nope"))).toBe("MalformedJson");
    expect(tagOf(g.offer(new Uint8Array([0x7b, 0xff, 0x7d])))).toBe("MalformedJson");
    expect(tagOf(g.offer(wire({ ...e, seq: "1" })))).toBe("InvalidEnvelope");
    expect(tagOf(g.offer(wire(rehashed(e, { run: "u" }))))).toBe("WrongRun");
    expect(tagOf(g.offer(wire(rehashed(e, { type: "Nope" }))))).toBe("UnknownType");
    expect(tagOf(g.offer(wire(rehashed(e, { v: 3 }))))).toBe("UnknownVersion");
    expect(tagOf(g.offer(wire(rehashed(e, { payload: {} }))))).toBe("InvalidPayload");
    expect(tagOf(g.offer(wire({ ...e, step: 1 })))).toBe("BadHash");
    expect(tagOf(g.offer(wire({ ...e, sig: "0".repeat(128) })))).toBe("BadSignature");
    expect(tagOf(g.offer(wire(events[3])))).toBe("Uncertified");
    expect(tagOf(g.offer(wire(e)))).toBe("Accepted");
    expect(tagOf(g.offer(wire(e)))).toBe("Duplicate");
    expect(tagOf(g.offer(wire(rehashed(events[3] as Envelope, { seq: 3 }))))).toBe("BrokenChain");
    const err = g.offer(wire({ ...e, step: 1 }));
    expect(err._tag === "Rejected" && err.error).toMatchObject({ eventId: e.id, actor: e.actor, seq: 1 });
  });

  it("refuses a valid event published on another actor's subject as WrongSubject, and takes it on its own", () => {
    const g = gate();
    const [first] = zed(0);
    const r = g.offer(wire(first), loadHotkey("//Other").address);
    expect(tagOf(r)).toBe("WrongSubject");
    expect(r._tag === "Rejected" && r.error.detail).toMatch(/published on the subject of actor/);
    expect(tagOf(g.offer(wire(first), loadHotkey("//Zed").address))).toBe("Accepted");
  });

  it("refuses a gap and a fork as BrokenChain, and an unsigned checkpoint as MissingSignature", () => {
    const g = gate();
    const z = zed(SIGN_EVERY + 1);
    expect(tagOf(g.offer(wire(z[0])))).toBe("Accepted");
    expect(tagOf(g.offer(wire(z[2])))).toBe("BrokenChain");
    for (const e of z.slice(1, SIGN_EVERY - 1)) expect(tagOf(g.offer(wire(e)))).toBe("Held");
    const { sig: _s, ...bare } = z[SIGN_EVERY - 1] as Envelope;
    expect(tagOf(g.offer(wire(bare)))).toBe("MissingSignature");
    expect(tagOf(g.offer(wire(z[SIGN_EVERY - 1])))).toBe("Accepted");
    expect(tagOf(g.offer(wire(rehashed(z[SIGN_EVERY - 1] as Envelope, { step: 999, id: "fork" }))))).toBe("BrokenChain");
  });

  it("is not blocked by a stripped-signature copy that arrives before the signed original", () => {
    const g = gate();
    const z = zed(2);
    g.offer(wire(z[0]));
    expect(g.offer(wire(z[1]))._tag).toBe("Held");
    const { sig: _s, ...stripped } = z[2] as Envelope;
    expect(g.offer(wire(stripped))._tag).toBe("Held");
    const r = g.offer(wire(z[2]));
    expect(r._tag === "Accepted" && r.events.map((e) => e.id)).toEqual(["z-1", "z-2"]);
    expect(g.heldCount()).toBe(0);
  });

  it("is not blocked by a forged unsigned fork, and bounds how many it holds", () => {
    const g = gate();
    const z = zed(1);
    g.offer(wire(z[0]));
    for (let k = 0; k < MAX_HELD; k++) expect(g.offer(wire(rehashed({ ...(z[1] as Envelope), sig: undefined }, { id: `f-${k}`, step: k + 100 })))._tag).toBe("Held");
    expect(tagOf(g.offer(wire(rehashed({ ...(z[1] as Envelope), sig: undefined }, { id: "f-x", step: 1 }))))).toBe("HoldFull");
    const r = g.offer(wire(z[1]));
    expect(r._tag === "Accepted" && r.events.map((e) => e.id)).toEqual(["z-1"]);
    expect(g.heldCount()).toBe(0);
  });

  it("upcasts released events to their latest version", () => {
    const V1 = defineEvent("ClockTickedTwice", 1, Schema.Struct({ tick: Schema.Number }), (p) => ({ tick: p.tick, twice: true }));
    const V2 = defineEvent("ClockTickedTwice", 2, Schema.Struct({ tick: Schema.Number, twice: Schema.Boolean }));
    const g = gate(buildRegistry(coreEvents, [V1, V2]));
    const hotkey = loadHotkey("//Zed");
    const s = sessionKey(new Uint8Array(32).fill(5));
    const chain = new ActorChain(crypto, s, "t", hotkey.address);
    g.offer(wire(chain.seal([sessionCertifiedDraft(certifySessionKey(hotkey, "t", s), { id: "z-0", step: 0 })])[0]));
    const [old] = chain.seal([{ id: "z-1", type: "ClockTickedTwice", v: 1, step: 1, payload: { tick: 1 } }]);
    const r = g.offer(wire(old));
    expect(r._tag === "Accepted" && r.events[0]).toMatchObject({ id: "z-1", v: 2, payload: { tick: 1, twice: true } });
  });

  it("resumes from known heads", () => {
    const z = zed(3);
    const first = gate();
    feedAll(first, z.slice(0, 1));
    const resumed = new IngestGate(crypto, registry, { run: "t", maxBytes: 8192, heads: first.heads() });
    expect(feedAll(resumed, z.slice(1))).toEqual(["z-1", "z-2", "z-3"]);
    expect(tagOf(resumed.offer(wire(z[3])))).toBe("Duplicate");
  });
});

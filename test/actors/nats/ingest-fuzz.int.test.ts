// Bad input on a real nats-server: >= 10,000 random and mutated messages interleaved with a known
// sequence of valid signed events. Every valid event reaches the handler exactly once, in order;
// every bad message is dead-lettered with a reason and its original bytes.
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DeadLetter, startIngestConsumer } from "../../../src/actors/nats/consumer.js";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../../src/actors/nats/testing.js";
import { sessionKey } from "../../../src/actors/identity/index.js";
import { ActorChain } from "../../../src/events/chain.js";
import type { Envelope } from "../../../src/events/envelope.js";
import { readEnvelope } from "../../../src/events/shape.js";
import { IngestGate, type IngestReason } from "../../../src/events/ingest.js";
import { streams, subjects } from "../../../src/events/subjects.js";
import { crypto, registry, signedActor, type SignedActor } from "../eventlog/signed.js";

const RUN = "fuzz";
const MAX_BYTES = 4096;
const GARBAGE = 10_000;

/** mulberry32: a small seeded PRNG, so a failure reproduces. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

type Kind =
  | "valid" | "random" | "truncated" | "bitflip" | "wrongRun" | "unknownType" | "unknownVersion" | "invalidPayload"
  | "forgedSig" | "brokenChain" | "replay" | "oversized" | "notEnvelope" | "uncertified" | "wrongSubject";

/** The reasons each kind of bad message may be refused for. */
const ALLOWED: Record<Exclude<Kind, "valid">, readonly IngestReason[]> = {
  random: ["MalformedJson", "InvalidEnvelope"],
  truncated: ["MalformedJson"],
  bitflip: ["MalformedJson", "InvalidEnvelope", "BadHash", "BadSignature", "WrongRun", "UnknownType", "UnknownVersion", "InvalidPayload", "BrokenChain", "Duplicate", "Uncertified"],
  wrongRun: ["WrongRun"],
  unknownType: ["UnknownType"],
  unknownVersion: ["UnknownVersion"],
  invalidPayload: ["InvalidPayload"],
  forgedSig: ["BadSignature"],
  brokenChain: ["BrokenChain"],
  replay: ["Duplicate"],
  oversized: ["Oversized"],
  notEnvelope: ["InvalidEnvelope"],
  uncertified: ["Uncertified"],
  wrongSubject: ["WrongSubject"],
};

interface Msg {
  readonly kind: Kind;
  readonly subject: string;
  readonly data: Uint8Array;
}

const enc = new TextEncoder();
/** The actor an envelope names, when the bytes read as one (what the gate checks against the subject). */
const envelopeActor = (data: Uint8Array): string | undefined => {
  try {
    const e = readEnvelope(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data)));
    return typeof e === "string" ? undefined : e.actor;
  } catch {
    return undefined;
  }
};
const bytes = (e: Envelope): Uint8Array => enc.encode(JSON.stringify(e));

/** Builds the whole publish sequence: valid batches of three actors with bad messages between. */
const scenario = (seed: number) => {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const actors: SignedActor[] = [signedActor(RUN, "//Alice", 1), signedActor(RUN, "//Bob", 2), signedActor(RUN, "//Charlie", 3)];
  const tips = new Map<string, Envelope>();
  const published: Envelope[] = [];
  const msgs: Msg[] = [];
  const valid = (e: Envelope): void => {
    msgs.push({ kind: "valid", subject: subjects.facts(RUN, e.actor), data: bytes(e) });
    tips.set(e.actor, e);
    published.push(e);
  };
  const evil = sessionKey(new Uint8Array(32).fill(66));
  const other = signedActor("elsewhere", "//Alice", 1);
  other.open();
  const stranger = signedActor(RUN, "//Dave", 4);
  // A chain for `a` that extends its current tip, signed by `signer` (the real key unless forged).
  const shadow = (a: SignedActor, key = sessionKey(new Uint8Array(32).fill(actors.indexOf(a) + 1)), skip = 0) => {
    const tip = tips.get(a.actor) as Envelope;
    return new ActorChain(crypto, key, RUN, a.actor, { seq: tip.seq + skip, hash: skip === 0 ? tip.hash : "ab".repeat(32) });
  };
  let n = 0;
  const draft = (type = "ClockTicked", v = 1, payload: unknown = { tick: 0 }) => ({ id: `bad-${++n}`, type, v, step: 1, payload });

  const bad = (): Msg => {
    const a = pick(actors);
    const subject = subjects.facts(RUN, pick([...actors.map((x) => x.actor), "mallory"]));
    const some = pick(published);
    const kind = pick<Exclude<Kind, "valid">>([
      "random", "truncated", "bitflip", "bitflip", "wrongRun", "unknownType", "unknownVersion", "invalidPayload",
      "forgedSig", "brokenChain", "replay", "replay", "oversized", "notEnvelope", "uncertified", "wrongSubject",
    ]);
    switch (kind) {
      case "random":
        return { kind, subject, data: Uint8Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)) };
      case "truncated": {
        const b = bytes(some);
        return { kind, subject, data: b.subarray(0, Math.floor(rnd() * (b.length - 1))) };
      }
      case "bitflip": {
        const b = bytes(some).slice();
        const i = Math.floor(rnd() * b.length);
        b[i] = (b[i] as number) ^ (1 << Math.floor(rnd() * 8));
        return { kind, subject, data: b };
      }
      case "wrongRun":
        return { kind, subject, data: bytes(other.ticks(1)[0] as Envelope) };
      case "unknownType":
        return { kind, subject, data: bytes(shadow(a).seal([draft("NoSuchThingHappened")])[0] as Envelope) };
      case "unknownVersion":
        return { kind, subject, data: bytes(shadow(a).seal([draft("ClockTicked", 9)])[0] as Envelope) };
      case "invalidPayload":
        return { kind, subject, data: bytes(shadow(a).seal([draft("ClockTicked", 1, { tick: "soon" })])[0] as Envelope) };
      case "forgedSig":
        return { kind, subject, data: bytes(shadow(a, evil).seal([draft()])[0] as Envelope) };
      case "brokenChain":
        return { kind, subject, data: bytes(shadow(a, undefined, 1).seal([draft()])[0] as Envelope) };
      case "replay":
        return { kind, subject: subjects.facts(RUN, some.actor), data: bytes(some) };
      case "oversized":
        return { kind, subject, data: enc.encode(JSON.stringify({ ...some, payload: { tick: 1, pad: "x".repeat(MAX_BYTES) } })) };
      case "notEnvelope":
        return { kind, subject, data: enc.encode(JSON.stringify(pick([{ ...some, extra: 1 }, { id: some.id }, [1, 2], "text", 42, null]))) };
      case "uncertified":
        return { kind, subject, data: bytes(stranger.ticks(1)[0] as Envelope) };
      case "wrongSubject": {
        // A copy of a valid event on another actor's subject (a forger with rights to its own subject).
        const to = actors.map((x) => x.actor).find((x) => x !== some.actor) ?? "mallory";
        return { kind, subject: subjects.facts(RUN, to), data: bytes(some) };
      }
    }
  };

  for (const a of actors) valid(a.open()[0] as Envelope);
  while (msgs.length - published.length < GARBAGE) {
    if (rnd() < 0.13) {
      // An actor's next batch, 1-12 events with the last signed, its messages spread out.
      const a = pick(actors);
      for (const e of a.ticks(1 + Math.floor(rnd() * 12))) {
        valid(e);
        while (rnd() < 0.5) msgs.push(bad());
      }
    } else msgs.push(bad());
  }
  // End every chain on a signed event so nothing valid is left held.
  for (const a of actors) valid(a.ticks(1)[0] as Envelope);
  return { msgs, published };
};

/** The release order: each signed event releases its actor's unsigned predecessors, then itself. */
const releaseOrder = (published: readonly Envelope[]): string[] => {
  const waiting = new Map<string, string[]>();
  const out: string[] = [];
  for (const e of published) {
    const w = waiting.get(e.actor) ?? [];
    w.push(e.id);
    if (e.sig === undefined) waiting.set(e.actor, w);
    else {
      out.push(...w);
      waiting.delete(e.actor);
    }
  }
  return out;
};

let nats: EmbeddedNats;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startEmbeddedNats();
  nc = await connectNats(nats.url);
});
afterAll(async () => {
  await nc?.drain();
  await nats?.stop();
});

describe("ingest consumer under fuzz", () => {
  it("delivers every valid event exactly once in order and dead-letters every bad message with a reason", async () => {
    const { msgs, published } = scenario(20260101);
    const garbage = msgs.filter((m) => m.kind !== "valid").length;
    expect(garbage).toBeGreaterThanOrEqual(GARBAGE);

    const delivered: string[] = [];
    const letters: DeadLetter[] = [];
    const consumer = await startIngestConsumer({
      nc,
      run: RUN,
      name: "fuzz",
      gate: new IngestGate(crypto, registry, { run: RUN, maxBytes: MAX_BYTES }),
      handle: (events) => {
        for (const e of events) delivered.push(e.id);
      },
      onDeadLetter: (l) => letters.push(l),
    });
    // Core NATS publishes, one connection: the stream stores them in exactly this order.
    for (const m of msgs) nc.publish(m.subject, m.data);
    await nc.flush();

    // Wait (bounded) for the consumer to work through everything; the assertions say what is missing.
    for (let i = 0; i < 600 && (consumer.stats().offered < msgs.length || letters.length < garbage); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await consumer.stop();

    expect(delivered).toEqual(releaseOrder(published));
    expect(new Set(delivered).size).toBe(published.length);
    expect(consumer.stats()).toMatchObject({ offered: msgs.length, accepted: published.length, held: 0, rejected: garbage });

    // The dead-letter stream holds one record per bad message, with its bytes and a fitting reason.
    const js = jetstream(nc);
    const dlq = await js.consumers.get(streams.deadLetter(RUN), { filter_subjects: subjects.deadLetter(RUN, "fuzz") });
    const stored = new Map<number, DeadLetter>();
    for await (const m of await dlq.consume()) {
      const l = m.json<DeadLetter>();
      stored.set(l.streamSeq, l);
      if (m.info.pending === 0) break;
    }
    expect(stored.size).toBe(garbage);
    const kinds = new Map<string, number>();
    msgs.forEach((m, i) => {
      const l = stored.get(i + 1);
      if (m.kind === "valid") {
        expect(l).toBeUndefined();
        return;
      }
      expect(l, `message ${i + 1} (${m.kind})`).toBeDefined();
      // A readable envelope (of a message not refused for its size) on a subject that is not its
      // actor's is refused for that, before its content is checked.
      const actor = m.kind === "oversized" ? undefined : envelopeActor(m.data);
      const allowed = actor !== undefined && subjects.factsActor(RUN, m.subject) !== actor ? ["WrongSubject"] : ALLOWED[m.kind];
      expect(allowed, `message ${i + 1} (${m.kind}): ${l?.reason} ${l?.detail}`).toContain(l?.reason);
      expect(Buffer.from((l as DeadLetter).data, "base64").equals(Buffer.from(m.data))).toBe(true);
      expect(l?.subject).toBe(m.subject);
      kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
    });
    // Every kind of bad input was exercised.
    expect([...kinds.keys()].sort()).toEqual(Object.keys(ALLOWED).sort());
  });
});

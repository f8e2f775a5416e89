import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { certifySessionKey, fixedRng, loadHotkey, sessionKey } from "../../src/actors/identity/index.js";
import { ActorChain, sessionCertifiedDraft } from "../../src/events/chain.js";
import type { Envelope } from "../../src/events/envelope.js";
import { IngestGate } from "../../src/events/ingest.js";
import { LogVerifier, verifyLog } from "../../src/events/verify.js";
import { crypto, logOf, registry, rehashed, small } from "./support.js";

const FIELDS = ["id", "type", "v", "run", "actor", "seq", "prev", "cause", "step", "at", "payload", "hash", "sig"] as const;
type Field = (typeof FIELDS)[number];
const flipHex = (h: string, k: number) => { const i = k % h.length; return h.slice(0, i) + (h[i] === "0" ? "1" : "0") + h.slice(i + 1); };
const other = loadHotkey("//Zed").address;

/** `e` with one field changed to a different, well-formed value (the hash is not recomputed). */
const tamper = (e: Envelope, field: Field, k: number): Envelope => {
  const changes: Record<Field, unknown> = {
    id: `${e.id}x`,
    type: e.type === "ClockTicked" ? "ActorCheckpointed" : "ClockTicked",
    v: e.v + 1,
    run: "u",
    actor: other,
    seq: e.seq + 1 + (k % 3),
    prev: flipHex(e.prev, k),
    cause: e.cause.length > 0 ? e.cause.slice(1) : ["alice-1"],
    step: e.step + 1 + (k % 5),
    at: e.at + 1,
    payload: { ...(e.payload as object), tampered: k },
    hash: flipHex(e.hash, k),
    sig: e.sig === undefined ? "ab".repeat(64) : flipHex(e.sig, k),
  };
  return { ...e, [field]: changes[field] } as Envelope;
};

/** Three certified actors on run "p" (hotkey certificates are slow to sign, so made once). */
const actors = ["//Alice", "//Bob", "//Charlie"].map((uri, i) => {
  const hotkey = loadHotkey(uri);
  const key = sessionKey(new Uint8Array(32).fill(i + 20));
  return { hotkey, key, cert: certifySessionKey(hotkey, "p", key, fixedRng()) };
});

/** Seals a run from a schedule of (actor, batch size) appends; returns events in stream order. */
const runOf = (schedule: ReadonlyArray<readonly [number, number]>): Envelope[] => {
  const out: Envelope[] = [];
  const chains = actors.map(({ hotkey, key, cert }, a) => {
    const chain = new ActorChain(crypto, key, "p", hotkey.address);
    out.push(...chain.seal([sessionCertifiedDraft(cert, { id: `a${a}-0`, step: 0 })]));
    return chain;
  });
  let n = 0;
  for (const [a, size] of schedule) {
    const chain = chains[a] as ActorChain;
    const cause = out[out.length - 1]?.id ?? "";
    out.push(...chain.seal(Array.from({ length: size }, () => ({ id: `e${(n += 1)}`, type: "ClockTicked", v: 1, step: n, cause: [cause], payload: { tick: n } }))));
  }
  return out;
};
const schedule = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 5 })), { maxLength: 12 });

describe("properties of the signed log", () => {
  it("any interleaving of sealed batches verifies, in both signature modes", () => {
    fc.assert(
      fc.property(schedule, (s) => {
        const es = runOf(s);
        const expected = { ok: true, events: es.length, actors: 3 };
        expect(verifyLog(crypto, registry, logOf(es, "p"))).toEqual(expected);
        expect(verifyLog(crypto, registry, logOf(es, "p"), { fullSignatures: true })).toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });

  it("changing any single field of any event fails verification, naming that event or a later one", () => {
    const covered = new Set(small.events.filter((e, i) => e.sig !== undefined && small.events.findIndex((x, k) => k > i && x.actor === e.actor) !== -1).map((e) => e.id));
    fc.assert(
      fc.property(fc.nat(small.events.length - 1), fc.constantFrom(...FIELDS), fc.nat(1000), (i, field, k) => {
        const bad = small.events.map((e, j) => (j === i ? tamper(e, field, k) : e));
        const full = verifyLog(crypto, registry, logOf(bad), { fullSignatures: true });
        expect(full.ok).toBe(false);
        expect(!full.ok && full.index).toBeGreaterThanOrEqual(i + 2);
        // By design, the default mode skips signatures on events a later signature already covers.
        const coveredSig = field === "sig" && (covered.has(small.events[i]?.id ?? "") || small.events[i]?.sig === undefined);
        if (!coveredSig) expect(verifyLog(crypto, registry, logOf(bad)).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("verifying stored bytes (LogVerifier.message) gives the JSONL verdict, first bad event and reason included", () => {
    const encoder = new TextEncoder();
    const fromBytes = (messages: readonly Uint8Array[], full: boolean) => {
      const v = new LogVerifier(crypto, registry, { run: "t", fullSignatures: full });
      messages.forEach((m, i) => v.message(i + 1, m));
      return v.result();
    };
    const texts = small.events.map((e) => JSON.stringify(e));
    const message = fc.oneof(
      { arbitrary: fc.tuple(fc.nat(texts.length - 1), fc.constantFrom(...FIELDS), fc.nat(1000)).map(([i, f, k]) => JSON.stringify(tamper(small.events[i] as Envelope, f, k))), weight: 4 },
      { arbitrary: fc.tuple(fc.nat(texts.length - 1), fc.nat(1000)).map(([i, k]) => JSON.stringify(rehashed(small.events[i] as Envelope, { step: k }))), weight: 2 },
      { arbitrary: fc.nat(texts.length - 1).map((i) => JSON.stringify(small.events[i], null, 1)), weight: 1 },
      { arbitrary: fc.nat(texts.length - 1).map((i) => texts[i] as string), weight: 2 },
      { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(texts.length - 1), message), { maxLength: 3 }), fc.boolean(), (edits, full) => {
        const log = [...texts];
        for (const [at, m] of edits) log[at] = m;
        // The JSONL line embeds the stored text as it is (as exportLog writes it).
        const lines = ['{"swarmline":"log","format":1,"run":"t"}', ...log.map((t, i) => `{"seq":${i + 1},"event":${t}}`)];
        const jsonl = verifyLog(crypto, registry, lines, { fullSignatures: full });
        const bytes = fromBytes(log.map((t) => encoder.encode(t)), full);
        if (jsonl.ok) expect(bytes).toEqual(jsonl);
        else if (jsonl.reason === "MalformedJson" || jsonl.reason === "InvalidEntry") expect(bytes).toMatchObject({ ok: false, index: jsonl.index - 1 });
        else expect(bytes).toEqual({ ...jsonl, index: jsonl.index - 1 });
      }),
      { numRuns: 400, seed: 3 },
    );
  });

  it("the ingest gate releases every valid event exactly once, in chain order, whatever garbage is interleaved", () => {
    const valid = small.events;
    const clean = new IngestGate(crypto, registry, { run: "t", maxBytes: 4096 });
    const expected = valid.flatMap((e) => { const r = clean.offer(JSON.stringify(e)); return r._tag === "Accepted" ? r.events.map((x) => x.id) : []; });
    expect(expected).toEqual(valid.map((e) => e.id));
    const garbage = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.string({ minLength: 4097, maxLength: 4200 }),
      fc.tuple(fc.nat(valid.length - 1), fc.constantFrom(...FIELDS), fc.nat(1000)).map(([i, f, k]) => JSON.stringify(tamper(valid[i] as Envelope, f, k))),
      fc.tuple(fc.nat(valid.length - 1), fc.nat(1000)).map(([i, k]) => JSON.stringify(rehashed({ ...(valid[i] as Envelope), sig: undefined }, { id: `fork-${k}`, step: k }))),
      fc.nat(valid.length - 1).map((i) => { const { sig: _s, ...bare } = valid[i] as Envelope; return JSON.stringify(bare); }),
      fc.nat(valid.length - 1).map((i) => JSON.stringify(valid[i])),
      fc.nat(valid.length - 1).map((i) => JSON.stringify(valid[i]).slice(0, 20 + i)),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(valid.length), garbage), { maxLength: 40 }), (inserts) => {
        const stream: Array<string | Uint8Array> = [];
        valid.forEach((e, i) => {
          for (const [at, g] of inserts) if (at === i) stream.push(g);
          stream.push(JSON.stringify(e));
        });
        for (const [at, g] of inserts) if (at === valid.length) stream.push(g);
        const g = new IngestGate(crypto, registry, { run: "t", maxBytes: 4096 });
        const released = stream.flatMap((m) => { const r = g.offer(m); return r._tag === "Accepted" ? r.events.map((x) => x.id) : []; });
        // A copy of a valid event may arrive early and be released then: the set is the same,
        // each id exactly once, and every actor's events stay in chain order.
        expect([...released].sort()).toEqual([...expected].sort());
        const actorOf = new Map(valid.map((e) => [e.id, e.actor]));
        const seqOf = new Map(valid.map((e) => [e.id, e.seq]));
        for (const actor of new Set(actorOf.values())) {
          const seqs = released.filter((id) => actorOf.get(id) === actor).map((id) => seqOf.get(id));
          expect(seqs).toEqual(seqs.map((_, k) => k + 1));
        }
        expect(g.heldCount()).toBe(0);
      }),
      { numRuns: 150 },
    );
  });
});

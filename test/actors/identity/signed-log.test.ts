// A signed log from deterministic facts: each actor's chain opens with its certificate, facts get
// the chain's seq and hash, signatures sit where a writer would put them, and an actor that
// rewrites its own chain with its own key produces a log that still verifies.
import { describe, expect, it } from "vitest";
import { loadHotkey, sessionKey } from "../../../src/actors/identity/index.js";
import { nodeCrypto } from "../../../src/actors/identity/node-crypto.js";
import { type ActorKey, resealChain, signedLog } from "../../../src/actors/identity/signed-log.js";
import type { Envelope } from "../../../src/events/envelope.js";
import { formatLogHeader, formatLogLine } from "../../../src/events/jsonl.js";
import type { SwarmFact } from "../../../src/events/swarm/index.js";
import { verifyLog } from "../../../src/events/verify.js";
import { vocabularyRegistry } from "../../../src/events/vocabulary.js";

const RUN = "signed";
const alice: ActorKey = { hotkey: loadHotkey("//Alice"), session: sessionKey(new Uint8Array(32).fill(1)) };
const bob: ActorKey = { hotkey: loadHotkey("//Bob"), session: sessionKey(new Uint8Array(32).fill(2)) };
const keys = new Map([alice, bob].map((k) => [k.hotkey.address, k]));
const A = alice.hotkey.address;
const B = bob.hotkey.address;

const fact = (id: string, actor: string, type: "ClockTicked" | "HeartbeatSent", cause: string[] = []): SwarmFact =>
  ({ id, type, actor, seq: 0, step: 1, cause, payload: type === "ClockTicked" ? { tick: 1 } : { queue: 0, throughput: 1 } }) as SwarmFact;

/** Alice ticks twice, Bob answers twice in a row, Alice ticks again. */
const build = () => {
  const log = signedLog({ run: RUN, keyOf: (a) => keys.get(a) });
  const sealed = [fact("t1", A, "ClockTicked"), fact("t2", A, "ClockTicked"), fact("h1", B, "HeartbeatSent", ["t2"]), fact("h2", B, "HeartbeatSent"), fact("t3", A, "ClockTicked")].map(log.seal);
  return { log, sealed };
};
const verify = (lines: readonly string[]) => verifyLog(nodeCrypto, vocabularyRegistry(), lines, { fullSignatures: true });
const relines = (es: readonly Envelope[]): string[] => [formatLogHeader(RUN), ...es.map((e, i) => formatLogLine(i + 1, e))];

describe("signedLog", () => {
  it("opens each actor's chain with its certificate, so facts get seqs from 2 and their envelope's hash", () => {
    const { log, sealed } = build();
    const es = log.envelopes();
    expect(es.map((e) => e.type)).toEqual(["SessionKeyCertified", "ClockTicked", "ClockTicked", "SessionKeyCertified", "HeartbeatSent", "HeartbeatSent", "ClockTicked"]);
    expect(es[0]?.id).toBe(`${RUN}:${A}:s0:cert`);
    expect(sealed.map((f) => f.seq)).toEqual([2, 3, 2, 3, 4]);
    expect(sealed.map((f) => f.hash)).toEqual(es.filter((e) => e.type !== "SessionKeyCertified").map((e) => e.hash));
  });

  it("writes a log that verifies, signing the last event of each actor's run of events", () => {
    const { log } = build();
    expect(verify(log.lines())).toEqual({ ok: true, events: 7, actors: 2 });
    expect(log.envelopes().map((e) => e.sig !== undefined)).toEqual([false, false, true, false, false, true, true]);
  });

  it("gives the same bytes for the same facts and keys", () => {
    expect(build().log.lines()).toEqual(build().log.lines());
  });

  it("refuses an actor it has no key for", () => {
    const log = signedLog({ run: RUN, keyOf: (a) => keys.get(a) });
    expect(() => log.seal(fact("x", loadHotkey("//Charlie").address, "ClockTicked"))).toThrow(/no key for actor/);
  });
});

describe("resealChain", () => {
  it("lets an actor rewrite its own history into a log that still verifies; without it the edit is caught", () => {
    const es = build().log.envelopes();
    const edited = es.map((e) => (e.id === "t2" ? { ...e, step: 9 } : e));
    expect(verify(relines(edited))).toMatchObject({ ok: false, eventId: "t2", reason: "BadHash" });
    const resealed = resealChain(edited, A, alice.session);
    expect(verify(relines(resealed))).toMatchObject({ ok: true });
    expect(resealed.filter((e) => e.actor === B)).toEqual(es.filter((e) => e.actor === B));
    expect(resealed.find((e) => e.id === "t3")?.prev).toBe(resealed.find((e) => e.id === "t2")?.hash);
  });

  it("cannot pass for another actor: resealing with the wrong session key fails the signature check", () => {
    const es = build().log.envelopes().map((e) => (e.id === "t2" ? { ...e, step: 9 } : e));
    expect(verify(relines(resealChain(es, A, bob.session)))).toMatchObject({ ok: false, reason: "BadSignature" });
  });
});

import { describe, expect, it } from "vitest";
import { certifySessionKey, loadHotkey, sessionKey } from "../../src/actors/identity/index.js";
import { ActorChain, sessionCertifiedDraft } from "../../src/events/chain.js";
import { GENESIS_PREV, hashBody, SIGN_EVERY } from "../../src/events/envelope.js";
import { verifyLog } from "../../src/events/verify.js";
import { crypto, logOf, registry } from "./support.js";

const alice = loadHotkey("//Alice");
const tick = (n: number) => ({ id: `t-${n}`, type: "ClockTicked", v: 1, step: n, payload: { tick: n } });

describe("ActorChain", () => {
  const session = sessionKey(new Uint8Array(32).fill(9));
  const open = () => {
    const chain = new ActorChain(crypto, session, "r", alice.address);
    const genesis = chain.seal([sessionCertifiedDraft(certifySessionKey(alice, "r", session), { id: "c-1", step: 0 })]);
    return { chain, genesis };
  };

  it("opens with seq 1 on the genesis prev and links each event to the previous hash", () => {
    const { chain, genesis } = open();
    const es = chain.seal([tick(1), tick(2), tick(3)]);
    expect(genesis[0]?.seq).toBe(1);
    expect(genesis[0]?.prev).toBe(GENESIS_PREV);
    expect(es.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(es[0]?.prev).toBe(genesis[0]?.hash);
    expect(es[2]?.prev).toBe(es[1]?.hash);
    for (const e of es) expect(hashBody(crypto, e)).toBe(e.hash);
    expect(chain.head).toEqual({ seq: 4, hash: es[2]?.hash });
  });

  it("signs the last event of each seal, over its hash, and leaves the others unsigned", () => {
    const { chain } = open();
    const es = chain.seal([tick(1), tick(2), tick(3)]);
    expect(es.map((e) => e.sig !== undefined)).toEqual([false, false, true]);
    expect(crypto.ed25519Verify(session.publicKeyHex, es[2]?.hash ?? "", es[2]?.sig ?? "")).toBe(true);
    expect(chain.seal([])).toEqual([]);
  });

  it(`signs every ${SIGN_EVERY}th event even inside one large seal`, () => {
    const { chain } = open();
    const es = chain.seal(Array.from({ length: SIGN_EVERY + 10 }, (_, i) => tick(i + 1)));
    const signed = es.filter((e) => e.sig !== undefined).map((e) => e.seq);
    expect(signed).toEqual([SIGN_EVERY, SIGN_EVERY + 11]);
  });

  it("resumes from a known head, and a re-keyed resumption verifies", () => {
    const { chain, genesis } = open();
    const before = chain.seal([tick(1)]);
    const fresh = sessionKey(new Uint8Array(32).fill(10));
    const resumed = new ActorChain(crypto, fresh, "r", alice.address, chain.head);
    const after = resumed.seal([sessionCertifiedDraft(certifySessionKey(alice, "r", fresh), { id: "c-2", step: 1 }), tick(2)]);
    expect(after[0]?.seq).toBe(3);
    expect(verifyLog(crypto, registry, logOf([...genesis, ...before, ...after], "r"))).toEqual({ ok: true, events: 4, actors: 1 });
  });

  it("a resumption with a new session key but no re-keying certificate fails on its signature", () => {
    const { chain, genesis } = open();
    const stranger = new ActorChain(crypto, sessionKey(new Uint8Array(32).fill(11)), "r", alice.address, chain.head);
    const r = verifyLog(crypto, registry, logOf([...genesis, ...stranger.seal([tick(1)])], "r"));
    expect(r).toMatchObject({ ok: false, reason: "BadSignature", eventId: "t-1", index: 3 });
  });

  it("refuses to seal a draft no reader would accept, without advancing", () => {
    const { chain } = open();
    const head = chain.head;
    expect(() => chain.seal([tick(1), { ...tick(2), id: "has space" }])).toThrow(/cannot seal draft "has space"/);
    expect(() => chain.seal([{ ...tick(3), step: 1.5 }])).toThrow(/step/);
    expect(chain.head).toEqual(head);
  });

  it("refuses a run or actor that is not a subject token", () => {
    expect(() => new ActorChain(crypto, session, "a.b", alice.address)).toThrow(/subject token/);
    expect(() => new ActorChain(crypto, session, "r", "x y")).toThrow(/subject token/);
  });
});

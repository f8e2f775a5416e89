// Anchored heads: a log is checked against the orchestrator's signed chain heads, so events cut
// from its end (which leave a valid shorter log) are caught, and an anchor nobody may trust is refused.
import { readFileSync } from "node:fs";
import { Result } from "effect";
import { describe, expect, it } from "vitest";
import { cryptoReady, loadHotkey } from "../../src/actors/identity/index.js";
import { nodeCrypto } from "../../src/actors/identity/node-crypto.js";
import type { Envelope } from "../../src/events/envelope.js";
import { type ActorHead, checkAnchors, makeAnchor, parseHeadFile } from "../../src/events/head.js";
import { parseLogLines, splitLines } from "../../src/events/jsonl.js";

await cryptoReady();
const parsed = parseLogLines(splitLines(readFileSync(new URL("../fixtures/golden-scored.jsonl", import.meta.url), "utf8")));
if (Result.isFailure(parsed)) throw new Error("the golden log does not parse");
const RUN = parsed.success.header.run;
const events: Envelope[] = parsed.success.entries.map((e) => e.event);
const alice = loadHotkey("//Alice");
const headsOf = (es: readonly Envelope[]): ActorHead[] => {
  const m = new Map<string, ActorHead>();
  for (const e of es) m.set(e.actor, { actor: e.actor, seq: e.seq, hash: e.hash });
  return [...m.values()];
};
const anchorOf = (es: readonly Envelope[], run = RUN) =>
  makeAnchor(nodeCrypto, { run, orchestrator: alice.address, reason: "completed", completed: 60, heads: headsOf(es) }, (m) => alice.sign(m));

describe("anchored heads", () => {
  it("holds for the log it was taken from, and for any longer one", () => {
    const a = anchorOf(events.slice(0, 800));
    expect(a.events).toBe(a.heads.reduce((n, h) => n + h.seq, 0));
    expect(checkAnchors(nodeCrypto, RUN, alice.address, events.slice(0, 800), [a])).toEqual([]);
    expect(checkAnchors(nodeCrypto, RUN, alice.address, events, [a])).toEqual([]);
  });

  it("catches a log cut at its end, naming the chain and how far it reaches", () => {
    const a = anchorOf(events);
    const last = events[events.length - 1] as Envelope;
    const problems = checkAnchors(nodeCrypto, RUN, alice.address, events.slice(0, -1), [a]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ anchor: 1, reason: "Truncated" });
    expect(problems[0]?.detail).toContain(`${last.actor}'s chain ends at seq ${last.seq - 1}`);
  });

  it("catches a chain that forked from the anchored one", () => {
    const a = anchorOf(events);
    const forked = events.map((e, i) => (i === events.length - 1 ? { ...e, hash: "f".repeat(64) } : e));
    expect(checkAnchors(nodeCrypto, RUN, alice.address, forked, [a])[0]).toMatchObject({ reason: "Forked" });
  });

  it("refuses an anchor whose heads were edited, re-digested without the signer, for another run, or signed by someone else", () => {
    const a = anchorOf(events);
    const edited = { ...a, heads: a.heads.map((h, i) => (i === 0 ? { ...h, seq: h.seq - 1 } : h)) };
    expect(checkAnchors(nodeCrypto, RUN, alice.address, events, [edited])[0]).toMatchObject({ reason: "BadAnchor" });
    const shorter = anchorOf(events.slice(0, 500));
    const resigned = { ...a, heads: shorter.heads, events: shorter.events, digest: shorter.digest }; // Alice's signature over other heads
    expect(checkAnchors(nodeCrypto, RUN, alice.address, events, [resigned])[0]).toMatchObject({ reason: "BadAnchor", detail: expect.stringMatching(/signature/) });
    expect(checkAnchors(nodeCrypto, RUN, alice.address, events, [anchorOf(events, "other-run")])[0]).toMatchObject({ reason: "WrongRun" });
    const bob = loadHotkey("//Bob");
    expect(checkAnchors(nodeCrypto, RUN, bob.address, events, [a])[0]).toMatchObject({ reason: "WrongSigner" });
  });

  it("reads a head file of one anchor per line and names a line that is not one", () => {
    const a = anchorOf(events.slice(0, 300));
    const b = anchorOf(events);
    const r = parseHeadFile(`${JSON.stringify(a)}\n${JSON.stringify(b)}\n`);
    expect("anchors" in r && r.anchors.map((x) => x.events)).toEqual([a.events, b.events]);
    expect(parseHeadFile(`${JSON.stringify(a)}\nnope\n`)).toEqual({ error: "line 2 is not JSON" });
    expect(parseHeadFile('{"swarmline":"log"}')).toMatchObject({ error: expect.stringMatching(/^line 1 is not a head anchor/) });
    expect(parseHeadFile("\n")).toEqual({ error: "it holds no anchor" });
  });
});

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { splitLines } from "../../src/events/jsonl.js";
import { verifyLog } from "../../src/events/verify.js";
import { vocabularyRegistry } from "../../src/events/vocabulary.js";
import { GOLDEN_SMALL, goldenSmallText } from "../fixtures/make-golden.js";
import { crypto } from "./support.js";

const text = readFileSync(GOLDEN_SMALL, "utf8");
const lines = splitLines(text);
const registry = vocabularyRegistry();
const idAt = (line: number) => (JSON.parse(lines[line - 1] as string) as { event: { id: string } }).event.id;

describe("the golden log golden-small.jsonl", () => {
  it("is exactly what make-golden.ts produces (the script is deterministic)", () => {
    expect(goldenSmallText()).toBe(text);
  });

  it("verifies with the whole vocabulary, in both signature modes", () => {
    expect(verifyLog(crypto, registry, lines)).toEqual({ ok: true, events: 28, actors: 3 });
    expect(verifyLog(crypto, registry, lines, { fullSignatures: true }).ok).toBe(true);
  });

  it("rejects a copy with one event altered, removed, duplicated or reordered, naming the event", () => {
    const altered = lines.map((l, i) => (i === 9 ? l.replace('"step":', '"step":1') : l));
    expect(verifyLog(crypto, registry, altered)).toMatchObject({ ok: false, index: 10, eventId: idAt(10), reason: "BadHash" });
    const removed = lines.filter((_, i) => i !== 9);
    expect(verifyLog(crypto, registry, removed)).toMatchObject({ ok: false, index: 10, eventId: idAt(11), reason: "StreamGap" });
    const duplicated = [...lines.slice(0, 10), lines[9] as string, ...lines.slice(10)];
    expect(verifyLog(crypto, registry, duplicated)).toMatchObject({ ok: false, index: 11, eventId: idAt(10), reason: "Duplicate" });
    const reordered = [...lines.slice(0, 9), lines[10] as string, lines[9] as string, ...lines.slice(11)];
    expect(verifyLog(crypto, registry, reordered)).toMatchObject({ ok: false, index: 10, eventId: idAt(11) });
  });
});

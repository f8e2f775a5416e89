// Release order: the order a verifying reader folds a log in. A writer's batch split by other
// writers' appends (as after a server restart) must fold the same for the live feed's IngestGate
// and for the auditor reading the exported file, or a decision cannot be re-derived.
import { readFileSync } from "node:fs";
import { Result } from "effect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cryptoReady } from "../../src/actors/identity/index.js";
import { nodeCrypto } from "../../src/actors/identity/node-crypto.js";
import type { Envelope } from "../../src/events/envelope.js";
import { decodeFact, decodeFacts } from "../../src/events/facts.js";
import { inReleaseOrder } from "../../src/events/fold-order.js";
import { IngestGate } from "../../src/events/ingest.js";
import { formatLogHeader, formatLogLine, parseLogLines, splitLines } from "../../src/events/jsonl.js";
import { verifyLog } from "../../src/events/verify.js";
import { vocabularyRegistry } from "../../src/events/vocabulary.js";
import { auditDecisions, foldViews } from "../../src/machines/orchestrator/index.js";

await cryptoReady();
const parsed = parseLogLines(splitLines(readFileSync(new URL("../fixtures/sim-killed.jsonl", import.meta.url), "utf8")));
if (Result.isFailure(parsed)) throw new Error("the fixture does not parse");
const RUN = parsed.success.header.run;
const events: Envelope[] = parsed.success.entries.map((e) => e.event);

/** What the live feed folds: every event offered in stream order, as the gate releases them. */
const gateOrder = (es: readonly Envelope[]): string[] => {
  const gate = new IngestGate(nodeCrypto, vocabularyRegistry(), { run: RUN, maxBytes: 1 << 20 });
  return es.flatMap((e) => {
    const r = gate.offer(JSON.stringify(e), e.actor);
    return r._tag === "Accepted" ? r.events.map((x) => x.id) : [];
  });
};

/**
 * Splits batches: each chosen unsigned event moves `by` places earlier, never past an event of
 * its own actor (a writer's events stay in chain order, as the stream keeps them) or one it names
 * as a cause (nobody writes a fact before reading its cause).
 */
const split = (es: readonly Envelope[], moves: readonly { at: number; by: number }[]): { log: Envelope[]; moved: number } => {
  const log = [...es];
  const unsigned = es.filter((e) => e.sig === undefined);
  let moved = 0;
  for (const { at, by } of moves) {
    const e = unsigned[at % unsigned.length] as Envelope;
    const i = log.indexOf(e);
    let j = i;
    while (j > 0 && i - j < by && (log[j - 1] as Envelope).actor !== e.actor && !e.cause.includes((log[j - 1] as Envelope).id)) j--;
    if (j === i) continue;
    log.splice(i, 1);
    log.splice(j, 0, e);
    moved += 1;
  }
  return { log, moved };
};

const ids = (es: readonly Envelope[]) => es.map((e) => e.id);

describe("release order", () => {
  it("keeps a log whose batches are contiguous in stream order, every event covered", () => {
    expect(events.some((e) => e.sig === undefined)).toBe(true);
    expect(ids(inReleaseOrder(events))).toEqual(ids(events));
    expect(gateOrder(events)).toEqual(ids(events));
  });

  it("is the order the live reader's gate releases a log with split batches in, so the audit re-derives every decision", () => {
    const base = decodeFacts(events);
    expect(auditDecisions(base)).toEqual([]);
    let splits = 0;
    let diverged = 0;
    fc.assert(
      fc.property(fc.array(fc.record({ at: fc.nat(), by: fc.integer({ min: 1, max: 12 }) }), { minLength: 1, maxLength: 40 }), (moves) => {
        const { log, moved } = split(events, moves);
        splits += moved;
        // Still a valid log: stream order is not part of any chain.
        const lines = [formatLogHeader(RUN), ...log.map((e, i) => formatLogLine(i + 1, e))];
        const verdict = verifyLog(nodeCrypto, vocabularyRegistry(), lines);
        expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
        // The file's release order is the gate's, and equals the unsplit log's.
        expect(ids(inReleaseOrder(log))).toEqual(gateOrder(log));
        expect(gateOrder(log)).toEqual(ids(events));
        const facts = decodeFacts(log);
        expect(facts.map((f) => f.id)).toEqual(base.map((f) => f.id));
        expect(auditDecisions(facts, foldViews(facts))).toEqual([]);
        // Folded in stream order instead, some decisions would not re-derive.
        const streamOrder = log.flatMap((e) => { const d = decodeFact(e); return d !== undefined && "fact" in d ? [d.fact] : []; });
        if (auditDecisions(streamOrder).length > 0) diverged += 1;
      }),
      { numRuns: 12 },
    );
    expect(splits).toBeGreaterThan(12);
    expect(diverged).toBeGreaterThan(0);
  });

  it("leaves out an unsigned tail no signature covers (the live reader never folds it)", () => {
    const last = events.findLastIndex((e) => e.sig === undefined);
    const actor = (events[last] as Envelope).actor;
    const cut = events.filter((e, k) => k <= last || e.actor !== actor);
    expect(ids(inReleaseOrder(cut))).toEqual(gateOrder(cut));
    expect(ids(inReleaseOrder(cut))).not.toContain((events[last] as Envelope).id);
  });
});

// Facts the bus lost, refilled from their producers' journals, on a real nats-server: facts are
// purged from the facts stream (JetStream's purge by subject, keeping each actor's last fact, so
// the writers' expected-sequence appends go on), then a fresh reader and an export find the holes,
// the producers re-publish from their journals, and the log reads as it was. What no journal
// holds is reported: the export names it, and verification fails at the chain it breaks.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExportSummary } from "../../../src/actors/eventlog/transfer.js";
import { cryptoReady, loadHotkey, nodeCrypto } from "../../../src/actors/identity/index.js";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { makeNatsEventLog } from "../../../src/actors/nats/eventlog.js";
import { exportFromNats } from "../../../src/actors/nats/export.js";
import { readRefillRequest, requestRefills, streamHoles } from "../../../src/actors/nats/refill.js";
import { startEmbeddedNats, type EmbeddedNats } from "../../../src/actors/nats/testing.js";
import { type RunFeed, startRunFeed } from "../../../src/actors/swarm/feed.js";
import { FactJournal, journalFile, serveJournal } from "../../../src/actors/swarm/journal.js";
import { openWriter } from "../../../src/actors/swarm/writer.js";
import { runSwarmSim } from "../../../src/actors/swarm/sim-run.js";
import { decodeFacts } from "../../../src/events/facts.js";
import { parseLogLines } from "../../../src/events/jsonl.js";
import { streams, subjects } from "../../../src/events/subjects.js";
import { auditDecisions, checkInvariants } from "../../../src/machines/orchestrator/index.js";
import { verifyLog } from "../../../src/events/verify.js";
import { vocabularyRegistry } from "../../../src/events/vocabulary.js";

let nats: EmbeddedNats;
let nc: NatsConnection;
let dir: string;
let runs = 0;
beforeAll(async () => {
  await cryptoReady();
  nats = await startEmbeddedNats();
  nc = await connectNats(nats.url);
  dir = mkdtempSync(join(tmpdir(), "swl-refill-"));
});
afterAll(async () => {
  await nc.drain();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

const tick = (id: string, t: number) => ({ id, type: "ClockTicked", v: 1, step: t, payload: { tick: t } });
const alice = loadHotkey("//Miner1");
const bob = loadHotkey("//Miner2");

/** Two actors' interleaved facts on a fresh run; alice journals hers, bob (optionally) his. */
const setup = async (bobJournals: boolean) => {
  const run = `refill-${runs++}`;
  const log = makeNatsEventLog(nc);
  const feed = await startRunFeed(nc, run);
  const served = [serveJournal(nc, run, alice.address, dir)];
  if (bobJournals) served.push(serveJournal(nc, run, bob.address, dir));
  const a = await openWriter({ log, run, hotkey: alice, head: feed.head(alice.address), session: "a", journal: served[0]?.journal });
  const b = await openWriter({ log, run, hotkey: bob, head: feed.head(bob.address), session: "b", ...(bobJournals ? { journal: served[1]?.journal } : {}) });
  for (let t = 1; t <= 20; t++) {
    await a.append(tick(`a${t}`, t));
    await b.append(tick(`b${t}`, t));
  }
  await feed.stop();
  const jsm = await jetstreamManager(nc);
  // The bus loses every fact of both actors but the last of each.
  for (const k of [alice, bob]) await jsm.streams.purge(streams.facts(run), { filter: subjects.facts(run, k.address), keep: 1 });
  return { run, jsm, served, stop: async () => { await Promise.all(served.map((s) => s.stop())); } };
};

const exportLines = async (run: string): Promise<{ lines: string[]; summary: ExportSummary }> => {
  const lines: string[] = [];
  const summary = await Effect.runPromise(exportFromNats(nc, run, (ls) => { lines.push(...ls); }, { refillWaitMs: 2_000 }).pipe(Effect.orDie));
  return { lines, summary };
};

describe("refills from producers' journals", () => {
  it("a fresh reader and an export get back every purged fact, at its place", async () => {
    const { run, jsm, served, stop } = await setup(true);
    try {
      const holes = await streamHoles(jsm, run);
      expect(holes.length).toBe(2 * 21 - 2); // each actor's certificate and 20 ticks, the last of each kept
      // A reader started now folds the whole log: the holes are refilled as it meets them.
      const feed: RunFeed = await startRunFeed(nc, run);
      try {
        await feed.accepted("a20");
        await feed.accepted("b20");
        expect(feed.head(alice.address).seq).toBe(21);
        expect(feed.head(bob.address).seq).toBe(21);
        expect(feed.events()).toBe(42);
      } finally {
        await feed.stop();
      }
      expect(served.reduce((n, s) => n + s.server.stats().republished, 0)).toBe(holes.length);
      const { lines, summary } = await exportLines(run);
      expect(summary).toMatchObject({ events: 42, refused: 0, refilled: holes.length, deleted: [] });
      expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines)).toEqual({ ok: true, events: 42, actors: 2 });
      // Asking again stores no second copy (msgID dedupe), and the journals still answer after a restart.
      const again = FactJournal.open(alice.address, journalFile(dir, run, alice.address));
      expect(again.size).toBe(21);
      expect(again.lookup([holes[0] as number]).map((e) => e.id)).toEqual([served[0]?.journal.lookup([holes[0] as number])[0]?.id]);
    } finally {
      await stop();
    }
  });

  it("what no journal holds is reported: a Deleted line at each hole, and the log does not verify", async () => {
    const { run, jsm, stop } = await setup(false);
    try {
      const holes = await streamHoles(jsm, run);
      const { lines, summary } = await exportLines(run);
      expect(summary.refilled).toBe(20); // alice's
      expect(summary.deleted).toHaveLength(holes.length - 20); // bob's
      const deleted = lines.slice(1).map((l) => JSON.parse(l) as { seq: number; refused?: { reason: string } }).filter((l) => l.refused?.reason === "Deleted");
      expect(deleted.map((l) => l.seq)).toEqual(summary.deleted);
      const v = verifyLog(nodeCrypto, vocabularyRegistry(), lines);
      expect(v).toMatchObject({ ok: false, reason: "Lost", index: 1 + (summary.deleted[0] as number) });
    } finally {
      await stop();
    }
  });

  it("a malformed request is refused and recorded; the producer goes on answering", async () => {
    const run = `refill-${runs++}`;
    const bad: string[] = [];
    const s = serveJournal(nc, run, alice.address, dir, (e) => bad.push(e.message));
    try {
      nc.publish(subjects.refillRequest(run), "not json");
      nc.publish(subjects.refillRequest(run), JSON.stringify({ streamSeqs: [0, -1] }));
      const none = await requestRefills(nc, run, [1], 300);
      expect(none.size).toBe(0); // the journal is empty: silence, not an error
      expect(s.server.stats().refused).toBe(2);
      expect(bad[0]).toMatch(/not JSON/);
      expect(readRefillRequest(new TextEncoder().encode(JSON.stringify({ streamSeqs: [3] })))).toEqual({ streamSeqs: [3] });
    } finally {
      await s.stop();
    }
  });

  it("a sim whose facts are purged mid-run completes; a reader started after the loss folds the same run, and the export verifies and audits", { timeout: 120_000 }, async () => {
    const run = `refill-sim-${runs++}`;
    const jsm = await jetstreamManager(nc);
    const lines: string[] = [];
    let late: Promise<RunFeed> | undefined;
    let purged = 0;
    const r = await runSwarmSim({
      run, seed: 5, nats: nats.url, miners: 3, microbatches: 48, validator: false,
      gpt: { stages: 2, nLayer: 2, dModel: 32, nHead: 2, seq: 16, batch: 4, bottleneck: 4 }, quant: "int8", mergeEvery: 4,
      evalEvery: 1_000, evalBatches: 1, tickMs: 20, logLines: (ls) => { lines.push(...ls); },
      onProgress: (p) => {
        if (late !== undefined || p.completed < 16) return;
        // The bus loses the orchestrator's and a miner's facts so far (all but the last of each).
        late = (async () => {
          for (const k of [loadHotkey("//Alice"), loadHotkey("//Miner0")]) {
            const before = (await jsm.streams.info(streams.facts(run))).state.messages;
            await jsm.streams.purge(streams.facts(run), { filter: subjects.facts(run, k.address), keep: 1 });
            purged += before - (await jsm.streams.info(streams.facts(run))).state.messages;
          }
          return startRunFeed(nc, run);
        })();
      },
      // The late reader catches up while the producers still serve their journals (under load it
      // could still be behind the holes when the run ends, and nobody would answer its refills).
      beforeLeave: async () => {
        const feed = await (late as Promise<RunFeed>);
        await feed.reached((await jsm.streams.info(streams.facts(run))).state.last_seq);
      },
    });
    expect(r.violations).toEqual([]);
    expect(r.microbatches).toMatchObject({ completed: 48, lost: 0 });
    expect(purged).toBeGreaterThan(50);
    const feed = await (late as Promise<RunFeed>);
    try {
      await feed.reached((await jsm.streams.info(streams.facts(run))).state.last_seq);
      expect(feed.view().done).toBe(true);
      expect(feed.view().counters).toMatchObject({ completed: 48 });
    } finally {
      await feed.stop();
    }
    expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines)).toMatchObject({ ok: true });
    const deleted = lines.filter((l) => l.includes('"refused"'));
    expect(deleted).toEqual([]);
    const parsed = parseLogLines(lines);
    if (parsed._tag === "Failure") throw new Error(parsed.failure.detail);
    const facts = decodeFacts(parsed.success.entries.map((e) => e.event));
    expect(auditDecisions(facts)).toEqual([]);
    expect(checkInvariants(facts).violations).toEqual([]);
  });
});

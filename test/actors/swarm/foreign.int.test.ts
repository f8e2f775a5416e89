// Probe: an unsigned publish on a miner's fact subject moved the subject's last sequence, so the
// miner's next guarded append failed (AppendConflict) and the miner exited: one message removed it
// from the run. Its writer now tells foreign messages from its own chain's, on a real nats-server.
import { jetstream } from "@nats-io/jetstream";
import { Effect } from "effect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ForeignMessage } from "../../../src/actors/eventlog/errors.js";
import { EventLog } from "../../../src/actors/eventlog/service.js";
import { exportLog } from "../../../src/actors/eventlog/transfer.js";
import { cryptoReady, loadHotkey, nodeCrypto } from "../../../src/actors/identity/index.js";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { makeNatsEventLog } from "../../../src/actors/nats/eventlog.js";
import { startEmbeddedNats, type EmbeddedNats } from "../../../src/actors/nats/testing.js";
import { type RunFeed, startRunFeed } from "../../../src/actors/swarm/feed.js";
import { type ActorWriter, openWriter } from "../../../src/actors/swarm/writer.js";
import { type Envelope, hashBody } from "../../../src/events/envelope.js";
import { subjects } from "../../../src/events/subjects.js";
import { verifyLog } from "../../../src/events/verify.js";
import { vocabularyRegistry } from "../../../src/events/vocabulary.js";

let nats: EmbeddedNats;
let nc: NatsConnection;
let runs = 0;
let feeds: RunFeed[] = [];
beforeAll(async () => {
  await cryptoReady();
  nats = await startEmbeddedNats();
  nc = await connectNats(nats.url);
});
afterEach(async () => {
  for (const f of feeds) await f.stop();
  feeds = [];
});
afterAll(async () => {
  await nc.drain();
  await nats.stop();
});

const hotkey = loadHotkey("//Miner1");
const me = hotkey.address;
const tick = (id: string, t: number) => ({ id, type: "ClockTicked", v: 1, step: t, payload: { tick: t } });

/** A run with a miner's writer open on it, the foreign messages it reports, and a reader's feed. */
const setup = async () => {
  const run = `foreign-${runs++}`;
  const log = makeNatsEventLog(nc);
  const feed = await startRunFeed(nc, run);
  feeds.push(feed);
  const reported: ForeignMessage[] = [];
  const open = (session: string): Promise<ActorWriter> => openWriter({ log, run, hotkey, head: feed.head(me), session, onForeign: (e) => reported.push(e) });
  const writer = await open("s1");
  /** Publishes bytes on the miner's subject as any client allowed to could. */
  const forge = async (data: string): Promise<number> => (await jetstream(nc).publish(subjects.facts(run, me), data)).seq;
  return { run, log, feed, reported, open, writer, forge };
};

describe("a miner's writer facing foreign messages on its subject", () => {
  it("reports a garbage publish and appends after it, and readers skip it", async () => {
    const { feed, reported, writer, forge } = await setup();
    await writer.append(tick("t1", 1));
    const at = await forge("not an event");
    await writer.append(tick("t2", 2));
    await feed.accepted("t2");
    expect(reported.map((e) => [e._tag, e.seq, e.reason])).toEqual([["ForeignMessage", at, "MalformedJson"]]);
    expect(writer.foreignMessages).toBe(1);
    expect(feed.head(me).seq).toBe(3);
  });

  it("treats an unsigned event that links onto its chain as foreign: readers keep the signed one", async () => {
    const { run, log, feed, reported, writer, forge } = await setup();
    const last = await writer.append(tick("t1", 1));
    const body = { id: "forged", type: "ClockTicked", v: 1, run, actor: me, seq: last.seq + 1, prev: last.hash, cause: [], step: 9, at: 0, payload: { tick: 9 } };
    const forged: Envelope = { ...body, hash: hashBody(nodeCrypto, body) };
    const at = await forge(JSON.stringify(forged));
    const real = await writer.append(tick("t2", 2));
    await feed.accepted("t2");
    expect(reported.map((e) => [e.seq, e.reason])).toEqual([[at, "Unsigned"]]);
    expect(feed.head(me)).toMatchObject({ seq: real.seq, hash: real.hash });
    // The export refuses the fork the signed chain did not take, so the run still verifies.
    const lines: string[] = [];
    const summary = await Effect.runPromise(exportLog(run, (ls) => { lines.push(...ls); }).pipe(Effect.provideService(EventLog, log)));
    expect(summary).toMatchObject({ events: 3, refused: 1, reasons: { Unsigned: 1 } });
    expect(JSON.parse(lines[at] as string)).toMatchObject({ seq: at, refused: { reason: "Unsigned" } });
    expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines)).toEqual({ ok: true, events: 3, actors: 1, refused: 1 });
  });

  it("treats a replayed copy of its own signed event as foreign", async () => {
    const { feed, reported, writer, forge } = await setup();
    const signed = await writer.append(tick("t1", 1));
    const at = await forge(JSON.stringify(signed));
    await writer.append(tick("t2", 2));
    await feed.accepted("t2");
    expect(reported.map((e) => [e.seq, e.reason])).toEqual([[at, "Duplicate"]]);
  });

  it("opens on a subject that ends with garbage: the certificate goes after it", async () => {
    const { run, log, feed, forge } = await setup();
    const at = await forge("{ not json");
    await feed.reached(await Effect.runPromise(log.lastSeq(run)));
    const reported: ForeignMessage[] = [];
    const again = await openWriter({ log, run, hotkey, head: feed.head(me), session: "s2", onForeign: (e) => reported.push(e) });
    await again.append(tick("t1", 1));
    await feed.accepted("t1");
    expect(reported.map((e) => [e.seq, e.reason])).toEqual([[at, "MalformedJson"]]);
  });

  it("still fails on a real conflict: another session of the same hotkey appended", async () => {
    const { log, run, feed, reported, open, writer } = await setup();
    await writer.append(tick("t1", 1));
    await feed.reached(await Effect.runPromise(log.lastSeq(run)));
    await open("s2");
    await expect(writer.append(tick("t2", 2))).rejects.toMatchObject({ _tag: "AppendConflict" });
    expect(reported).toEqual([]);
  });
});

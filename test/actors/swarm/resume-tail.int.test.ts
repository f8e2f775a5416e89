// Resuming an actor whose last process died mid-batch: the stored tail of its chain is unsigned
// (the batch's signed last event never landed), so readers hold it. A new session's writer must
// extend that stored tail (not the readers' head), and its certificate releases the held events.
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventLog } from "../../../src/actors/eventlog/service.js";
import { exportLog } from "../../../src/actors/eventlog/transfer.js";
import { certifySessionKey, cryptoReady, loadHotkey, nodeCrypto, sessionKey } from "../../../src/actors/identity/index.js";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { makeNatsEventLog } from "../../../src/actors/nats/eventlog.js";
import { startEmbeddedNats, type EmbeddedNats } from "../../../src/actors/nats/testing.js";
import { startRunFeed } from "../../../src/actors/swarm/feed.js";
import { certId, openWriter } from "../../../src/actors/swarm/writer.js";
import { ActorChain, sessionCertifiedDraft } from "../../../src/events/chain.js";
import { verifyLog } from "../../../src/events/verify.js";
import { vocabularyRegistry } from "../../../src/events/vocabulary.js";

describe("a writer resumed after a crash mid-batch", () => {
  let nats: EmbeddedNats;
  let nc: NatsConnection;
  beforeAll(async () => {
    await cryptoReady();
    nats = await startEmbeddedNats();
    nc = await connectNats(nats.url);
  });
  afterAll(async () => {
    await nc.drain();
    await nats.stop();
  });

  it("extends the stored unsigned tail, so its certificate releases the held events and the log verifies", async () => {
    const run = "tail-run";
    const log = makeNatsEventLog(nc);
    const hotkey = loadHotkey("//Alice");
    const signer = sessionKey(new Uint8Array(32).fill(3));
    const chain = new ActorChain(nodeCrypto, signer, run, hotkey.address);
    const cert = chain.seal([sessionCertifiedDraft(certifySessionKey(hotkey, run, signer), { id: "old-cert", step: 0 })]);
    await Effect.runPromise(log.append(run, hotkey.address, cert, { expectedLastSubjectSeq: 0 }));
    const batch = chain.seal([1, 2, 3].map((t) => ({ id: `tick-${t}`, type: "ClockTicked", v: 1, step: t, payload: { tick: t } })));
    expect(batch.map((e) => e.sig === undefined)).toEqual([true, true, false]);
    // The process dies after two of the three publishes: the signed last event is lost.
    await Effect.runPromise(log.append(run, hotkey.address, batch.slice(0, 2), { expectedLastSubjectSeq: 1 }));

    const feed = await startRunFeed(nc, run);
    try {
      await feed.reached(await Effect.runPromise(log.lastSeq(run)));
      expect(feed.head(hotkey.address).seq).toBe(1); // the two unsigned events are held
      const writer = await openWriter({ log, run, hotkey, head: feed.head(hotkey.address), session: "s2" });
      await feed.accepted(certId(run, hotkey.address, "s2"));
      expect(feed.head(hotkey.address).seq).toBe(4);
      expect(feed.events()).toBe(4);
      await writer.append({ id: "tick-9", type: "ClockTicked", v: 1, step: 9, payload: { tick: 9 } });
      await feed.accepted("tick-9");
    } finally {
      await feed.stop();
    }
    const lines: string[] = [];
    await Effect.runPromise(exportLog(run, (ls) => { lines.push(...ls); }).pipe(Effect.provideService(EventLog, log)));
    expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines)).toMatchObject({ ok: true, events: 5 });
  });
});

// Verified replay straight from JetStream (reader on the main thread, LogVerifier in a worker):
// accepts an honest run, and names the first bad message of a run someone wrote garbage into.
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventLog } from "../../../src/actors/eventlog/service.js";
import { startVerifyWorker, verifiedReplay, type VerifyWorker } from "../../../src/actors/eventlog/verified-replay.js";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { layerNats } from "../../../src/actors/nats/eventlog.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../../src/actors/nats/testing.js";
import { subjects } from "../../../src/events/subjects.js";
import { signedActor } from "./signed.js";

let nats: EmbeddedNats;
let nc: NatsConnection;
let worker: VerifyWorker;
beforeAll(async () => {
  [nats, worker] = await Promise.all([startEmbeddedNats(), startVerifyWorker()]);
  nc = await connectNats(nats.url);
});
afterAll(async () => {
  await worker?.stop();
  await nc?.drain();
  await nats?.stop();
});

const populate = (run: string) =>
  Effect.gen(function* () {
    const log = yield* EventLog;
    const alice = signedActor(run, "//Alice", 1);
    const bob = signedActor(run, "//Bob", 2);
    yield* log.append(run, alice.actor, [...alice.open(), ...alice.ticks(600)]);
    yield* log.append(run, bob.actor, [...bob.open(), ...bob.ticks(40)]);
    yield* log.append(run, alice.actor, alice.ticks(9));
    return alice;
  });

describe("verifiedReplay", () => {
  it("accepts an honest run read straight from the stream, reusing one worker", async () => {
    for (const run of ["vr-ok-1", "vr-ok-2"]) {
      const verdict = await Effect.runPromise(
        Effect.provide(Effect.flatMap(populate(run), () => verifiedReplay(run, { worker })), layerNats(nc)),
      );
      expect(verdict).toEqual({ ok: true, events: 651, actors: 2 });
    }
  });

  it("names the first bad message: a replayed event written into the stream behind the log's back", async () => {
    const run = "vr-bad";
    const alice = await Effect.runPromise(Effect.provide(populate(run), layerNats(nc)));
    // Same keys and ids: byte for byte alice's first event, published again without the EventLog.
    const replayed = signedActor(run, "//Alice", 1).open()[0];
    nc.publish(subjects.facts(run, alice.actor), JSON.stringify(replayed));
    await nc.flush();
    const verdict = await Effect.runPromise(Effect.provide(verifiedReplay(run), layerNats(nc)));
    expect(verdict).toMatchObject({ ok: false, index: 652, reason: "Duplicate", eventId: replayed?.id });
  });
});

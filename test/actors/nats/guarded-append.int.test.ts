// The NATS append's concurrency guard under real interleaving: appends from other connections
// land between a batch's messages (the followers' last-msgID guards fail and the append resumes),
// and two writers of one actor racing with the same expectation never mix their batches.
import { Effect, Stream } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppendConflict } from "../../../src/actors/eventlog/errors.js";
import { EventLog } from "../../../src/actors/eventlog/service.js";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { layerNats } from "../../../src/actors/nats/eventlog.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../../src/actors/nats/testing.js";
import type { Envelope } from "../../../src/events/envelope.js";
import { env } from "../eventlog/contract.js";

let nats: EmbeddedNats;
let a: NatsConnection;
let b: NatsConnection;
beforeAll(async () => {
  nats = await startEmbeddedNats();
  [a, b] = await Promise.all([connectNats(nats.url), connectNats(nats.url)]);
});
afterAll(async () => {
  await Promise.all([a?.drain(), b?.drain()]);
  await nats?.stop();
});

const on = <A, E>(nc: NatsConnection, program: Effect.Effect<A, E, EventLog>) => Effect.runPromise(Effect.provide(program, layerNats(nc)));
const batch = (run: string, actor: string, from: number, n: number, tag = ""): Envelope[] =>
  Array.from({ length: n }, (_, i) => env(run, actor, from + i, `${run}-${actor}-${from + i}${tag}`));

describe("guarded append on NATS", () => {
  it("stores a guarded batch in order per actor while another connection appends beside it", async () => {
    const run = "guard-interleave";
    await on(a, Effect.flatMap(EventLog, (log) => log.append(run, "alice", batch(run, "alice", 1, 1))));
    const big = batch(run, "alice", 2, 3000);
    let started: () => void = () => undefined;
    const bobRunning = new Promise<void>((r) => (started = r));
    const bob = on(b, Effect.gen(function* () {
      const log = yield* EventLog;
      for (let i = 0; i < 300; i++) {
        yield* log.append(run, "bob", batch(run, "bob", 1 + i * 5, 5));
        if (i === 10) started();
      }
    }));
    await bobRunning;
    const seqs = await on(a, Effect.flatMap(EventLog, (log) => log.append(run, "alice", big, { expectedLastSubjectSeq: 1 })));
    await bob;
    const read = await on(a, Effect.flatMap(EventLog, (log) => Stream.runCollect(log.read(run))));
    const alice = read.filter((e) => e.envelope.actor === "alice");
    expect(alice.map((e) => e.envelope.seq)).toEqual(Array.from({ length: 3001 }, (_, i) => i + 1));
    expect(alice.slice(1).map((e) => e.seq)).toEqual(seqs);
    expect(read).toHaveLength(3001 + 1500);
    expect(read.filter((e) => e.envelope.actor === "bob")).toHaveLength(1500);
  });

  it("resumes a batch whose followers were refused because another append landed in between", async () => {
    const run = "guard-resume";
    const mine = batch(run, "alice", 1, 20);
    // A first attempt stored the first half (its acks were lost, say); then bob appended.
    await on(a, Effect.flatMap(EventLog, (log) => log.append(run, "alice", mine.slice(0, 10), { expectedLastSubjectSeq: 0 })));
    await on(b, Effect.flatMap(EventLog, (log) => log.append(run, "bob", batch(run, "bob", 1, 1))));
    // The retry: 1-10 deduplicate, 11 expects 10's id as the stream's last msgID, finds bob's,
    // and is refused; the append resumes at 11 guarded by subject sequence 10.
    const seqs = await on(a, Effect.flatMap(EventLog, (log) => log.append(run, "alice", mine, { expectedLastSubjectSeq: 0 })));
    expect(seqs).toEqual([...Array.from({ length: 10 }, (_, i) => i + 1), ...Array.from({ length: 10 }, (_, i) => i + 12)]);
    const read = await on(a, Effect.flatMap(EventLog, (log) => Stream.runCollect(log.read(run))));
    expect(read.map((e) => `${e.envelope.actor}:${e.envelope.seq}`)).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `alice:${i + 1}`), "bob:1", ...Array.from({ length: 10 }, (_, i) => `alice:${i + 11}`),
    ]);
  });

  it("lets exactly one of two racing writers of one actor win, without mixing their batches", async () => {
    const run = "guard-race";
    await on(a, Effect.flatMap(EventLog, (log) => log.append(run, "alice", batch(run, "alice", 1, 1))));
    const results = await Promise.all(
      ([[a, "-a"], [b, "-b"]] as const).map(([nc, tag]) =>
        on(nc, Effect.result(Effect.flatMap(EventLog, (log) => log.append(run, "alice", batch(run, "alice", 2, 500, tag), { expectedLastSubjectSeq: 1 })))),
      ),
    );
    const wins = results.filter((r) => r._tag === "Success");
    const losses = results.filter((r) => r._tag === "Failure");
    expect(wins).toHaveLength(1);
    expect(losses).toHaveLength(1);
    expect((losses[0] as { failure: unknown }).failure).toBeInstanceOf(AppendConflict);
    const read = await on(a, Effect.flatMap(EventLog, (log) => Stream.runCollect(log.read(run))));
    expect(read).toHaveLength(501);
    const tags = new Set(read.slice(1).map((e) => e.envelope.id.slice(-2)));
    expect(tags.size).toBe(1);
  });
});

// `npm run bench -- events [--events N] [--actors A] [--batch B] [--reps R]`: in one run against one embedded
// nats-server, the raw JetStream baseline (async-ack publish, ordered-consumer replay) and
// Swarmline's signed append (ActorChain.seal + EventLog.append) and verified replay (EventLog.readRaw
// + LogVerifier in a worker). Then all of it again with authorization on (an nkey user checked
// against a per-subject allow-list). Prints the figures and writes bench/results/events.json
// (`secure` holds the second pass).
import { mkdirSync, writeFileSync } from "node:fs";
import { jetstream, jetstreamManager, type PubAck } from "@nats-io/jetstream";
import { Effect, Stream } from "effect";
import { EventLog } from "../src/actors/eventlog/service.js";
import { startVerifyWorker, verifiedReplay, type VerifyWorker } from "../src/actors/eventlog/verified-replay.js";
import { certifySessionKey, fixedRng, loadHotkey, nodeCrypto, sessionKey } from "../src/actors/identity/index.js";
import { connectNats } from "../src/actors/nats/connection.js";
import { nkeyOfEd25519, sessionAuthenticator } from "../src/actors/nats/nkey.js";
import { subjects } from "../src/events/subjects.js";
import { startEmbeddedNats } from "../src/actors/nats/embedded.js";
import { layerNats } from "../src/actors/nats/eventlog.js";
import { ackPublisher } from "../src/actors/nats/publisher.js";
import { ActorChain, sessionCertifiedDraft } from "../src/events/chain.js";
import type { Draft, Envelope } from "../src/events/envelope.js";
import { buildRegistry } from "../src/events/registry.js";
import { coreEvents } from "../src/events/schemas/index.js";
import { LogVerifier } from "../src/events/verify.js";

const RUN = "bench";

export const arg = (args: string[], name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
};

export const seconds = (t0: number): number => (performance.now() - t0) / 1000;

/** One signing actor: hotkey, session key, chain, and a supply of ClockTicked drafts. */
export const makeActor = (i: number, run: string) => {
  const hotkey = loadHotkey(`//Bench${i}`);
  const session = sessionKey(new Uint8Array(32).fill(i + 1));
  const chain = new ActorChain(nodeCrypto, session, run, hotkey.address);
  let tick = 0;
  const drafts = (n: number): Draft[] =>
    Array.from({ length: n }, () => {
      tick += 1;
      return { id: `b${i}-${tick}`, type: "ClockTicked", v: 1, step: tick, at: 1_700_000_000_000 + tick, payload: { tick } };
    });
  const open = (): Envelope[] =>
    chain.seal([sessionCertifiedDraft(certifySessionKey(hotkey, run, session, fixedRng()), { id: `b${i}-cert`, step: 0 })]);
  return { actor: hotkey.address, chain, drafts, open };
};

/**
 * Each actor appends `perActor` events in batches of `batch` on its chain (its certificate first),
 * guarded by the expected last subject sequence as hosts append; the actors run concurrently.
 * Resolves with the number appended.
 */
export const appendTeam = (team: readonly ReturnType<typeof makeActor>[], perActor: number, batch: number) =>
  Effect.gen(function* () {
    const log = yield* EventLog;
    const counts = yield* Effect.all(
      team.map((a) =>
        Effect.gen(function* () {
          let last = 0;
          let n = 0;
          while (n < perActor) {
            const k = Math.min(batch, perActor - n);
            const envs = n === 0 ? [...a.open(), ...a.chain.seal(a.drafts(k - 1))] : a.chain.seal(a.drafts(k));
            const seqs = yield* log.append(a.chain.run, a.actor, envs, { expectedLastSubjectSeq: last });
            last = seqs[seqs.length - 1] ?? last;
            n += k;
          }
          return n;
        }),
      ),
      { concurrency: "unbounded" },
    );
    return counts.reduce((x, y) => x + y, 0);
  });

export const run = async (args: string[]): Promise<void> => {
  const events = arg(args, "events", 60_000);
  const actors = arg(args, "actors", 8);
  const batch = arg(args, "batch", 64);
  const reps = arg(args, "reps", 3);
  const out = new URL("./results/", import.meta.url);
  mkdirSync(out, { recursive: true });
  const open = await measure({ events, actors, batch, reps, secure: false });
  // The same with authorization on: one nkey user whose permissions list each bench actor's fact
  // subject, as a secured run's members have (src/actors/nats/permissions.ts), so every publish is
  // checked against an allow-list of that size.
  const secured = await measure({ events, actors, batch, reps, secure: true });
  const result = { ...open, secure: secured };
  writeFileSync(new URL("events.json", out), `${JSON.stringify(result, null, 2)}\n`);
};

interface Measured {
  readonly ratios: { readonly append_vs_raw: number; readonly replay_vs_raw: number };
  readonly figures: Record<string, number>;
}

const measure = async (o: { events: number; actors: number; batch: number; reps: number; secure: boolean }): Promise<Measured> => {
  const { events, actors, batch, reps } = o;
  const signer = sessionKey(new Uint8Array(32).fill(200));
  const nkey = nkeyOfEd25519(signer.publicKeyHex);
  const runs = Array.from({ length: reps }, (_, r) => `${RUN}${r}`);
  const team = Array.from({ length: actors }, (_, i) => loadHotkey(`//Bench${i}`).address);
  const allow = [...runs.flatMap((r) => team.map((a) => subjects.facts(r, a))), ...runs.flatMap((_, r) => [`raw${r}.>`, `lean${r}.>`]), "$JS.API.>", "$JS.ACK.>"];
  const authorization = [
    "authorization {", "  users = [",
    `    { nkey: ${nkey}, permissions: { publish: { allow: ${JSON.stringify(allow)} }, subscribe: { allow: ["_INBOX_bench.>"] } } }`,
    "  ]", "}", "",
  ].join("\n");
  const nats = await startEmbeddedNats(o.secure ? { authorization } : {});
  const nc = await connectNats(nats.url, "bench", o.secure ? { authenticator: sessionAuthenticator(signer), inboxPrefix: "_INBOX_bench" } : undefined);
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const layer = layerNats(nc);
    const registry = buildRegistry(coreEvents);
    const perActor = Math.ceil(events / actors);

    // A sample envelope fixes the raw payload size: the baseline moves the same bytes.
    const sample = makeActor(99, "sample");
    sample.open();
    const sampleBytes = JSON.stringify(sample.chain.seal(sample.drafts(batch)).at(-2)).length;
    const payload = new Uint8Array(sampleBytes).fill(120);

    // 1. Raw JetStream publish with async acks, in the same shape as the append: `actors`
    //    concurrent publishers, each with one batch of `batch` acks in flight, msgID set.
    const rawPublish = async (rep: number): Promise<number> => {
      const stream = `RAW${rep}`;
      await jsm.streams.add({ name: stream, subjects: [`raw${rep}.>`], storage: "file", duplicate_window: 120_000_000_000 });
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: actors }, async (_, p) => {
          for (let i = 0; i < perActor; i += batch) {
            const acks: Promise<PubAck>[] = [];
            for (let k = i; k < Math.min(perActor, i + batch); k++) acks.push(js.publish(`raw${rep}.${p}`, payload, { msgID: `raw-${p}-${k}` }));
            await Promise.all(acks);
          }
        }),
      );
      return (perActor * actors) / seconds(t0);
    };

    // 1b. For transparency: the same raw publishes through the lean ack pipeline the EventLog
    //     uses (src/actors/nats/publisher.ts), i.e. the bus cost without the client's per-call
    //     overhead. Printed, not part of the ratio.
    const lean = ackPublisher(nc, 10_000);
    const rawLeanPublish = async (rep: number): Promise<number> => {
      const stream = `LEAN${rep}`;
      await jsm.streams.add({ name: stream, subjects: [`lean${rep}.>`], storage: "file", duplicate_window: 120_000_000_000 });
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: actors }, async (_, p) => {
          for (let i = 0; i < perActor; i += batch) {
            const acks: Promise<PubAck>[] = [];
            for (let k = i; k < Math.min(perActor, i + batch); k++) acks.push(lean.publish(`lean${rep}.${p}`, payload, { msgID: `lean-${p}-${k}` }));
            await Promise.all(acks);
          }
        }),
      );
      return (perActor * actors) / seconds(t0);
    };

    // 2. Raw ordered-consumer replay of those messages (bytes only).
    const rawReplay = async (): Promise<number> => {
      const t0 = performance.now();
      const consumer = await js.consumers.get("RAW0", { filter_subjects: "raw0.>" });
      const it = await consumer.consume({ max_messages: 2048 });
      let replayed = 0;
      for await (const m of it) {
        replayed += 1;
        if (m.info.pending === 0) break;
      }
      return replayed / seconds(t0);
    };

    // 3. Swarmline signed append: each actor seals batches on its chain and appends them with
    //    the expected last subject sequence; the actors run concurrently, as actor hosts do.
    const append = async (rep: number): Promise<number> => {
      const run = `${RUN}${rep}`;
      const team = Array.from({ length: actors }, (_, i) => makeActor(i, run));
      const t0 = performance.now();
      const appended = await Effect.runPromise(Effect.provide(appendTeam(team, perActor, batch), layer));
      return appended / seconds(t0);
    };

    // 4. Verified replay: the run read through the EventLog and checked by the streaming
    //    LogVerifier (shape, schema, hash, chain link, certificates, head signatures), reading on
    //    the main thread and verifying in a worker (verifiedReplay). The worker is started once
    //    per process, like the NATS connection, so its boot is not timed...
    const verifyWorker: VerifyWorker = await startVerifyWorker();
    const verifiedReplayEps = async (): Promise<number> => {
      const t0 = performance.now();
      const verdict = await Effect.runPromise(Effect.provide(verifiedReplay(`${RUN}0`, { worker: verifyWorker }), layer));
      if (!verdict.ok) throw new Error(`verified replay failed: ${JSON.stringify(verdict)}`);
      return verdict.events / seconds(t0);
    };
    // ...and, for comparison, both in one thread: EventLog.readRaw into LogVerifier.message (the
    // same per-message work as the worker's)...
    const singleThreadEps = async (): Promise<number> => {
      const t0 = performance.now();
      const verdict = await Effect.runPromise(
        Effect.provide(
          Effect.gen(function* () {
            const log = yield* EventLog;
            const v = new LogVerifier(nodeCrypto, registry, { run: `${RUN}0` });
            yield* log.readRaw(`${RUN}0`).pipe(
              Stream.runForEachArray((chunk) => {
                for (const e of chunk) v.message(e.seq, e.data);
                return Effect.void;
              }),
            );
            return v.result();
          }),
          layer,
        ),
      );
      if (!verdict.ok) throw new Error(`verified replay failed: ${JSON.stringify(verdict)}`);
      return verdict.events / seconds(t0);
    };
    // ...and the read alone: the same run through the same reader (EventLog.readRaw), counted,
    // not verified. The gap between this and verified replay is what verification costs.
    const readOnlyEps = async (): Promise<number> => {
      const t0 = performance.now();
      const n = await Effect.runPromise(
        Effect.provide(
          Effect.gen(function* () {
            const log = yield* EventLog;
            let count = 0;
            yield* log.readRaw(`${RUN}0`).pipe(
              Stream.runForEachArray((chunk) => {
                count += chunk.length;
                return Effect.void;
              }),
            );
            return count;
          }),
          layer,
        ),
      );
      return n / seconds(t0);
    };

    // Best of `reps`, raw and Swarmline interleaved so both see the same machine; every rep is
    // kept for the spread.
    const all = { rawPublish: [] as number[], rawLean: [] as number[], append: [] as number[], rawReplay: [] as number[], readOnly: [] as number[], verifiedReplay: [] as number[], singleThread: [] as number[] };
    for (let rep = 0; rep < reps; rep++) {
      all.rawPublish.push(await rawPublish(rep));
      all.append.push(await append(rep));
      all.rawLean.push(await rawLeanPublish(rep));
    }
    for (let rep = 0; rep < reps; rep++) {
      all.rawReplay.push(await rawReplay());
      all.verifiedReplay.push(await verifiedReplayEps());
      all.readOnly.push(await readOnlyEps());
      all.singleThread.push(await singleThreadEps());
    }
    const best = {
      rawPublish: Math.max(...all.rawPublish),
      rawLean: Math.max(...all.rawLean),
      append: Math.max(...all.append),
      rawReplay: Math.max(...all.rawReplay),
      readOnly: Math.max(...all.readOnly),
      verifiedReplay: Math.max(...all.verifiedReplay),
      singleThread: Math.max(...all.singleThread),
    };

    const result = {
      ratios: {
        append_vs_raw: Number((best.append / best.rawPublish).toFixed(3)),
        replay_vs_raw: Number((best.verifiedReplay / best.rawReplay).toFixed(3)),
      },
      figures: {
        raw_publish_eps: Math.round(best.rawPublish),
        append_eps: Math.round(best.append),
        raw_replay_eps: Math.round(best.rawReplay),
        verified_replay_eps: Math.round(best.verifiedReplay),
      },
    };
    const f = (n: number): string => n.toLocaleString("en").padStart(9);
    const spread = (xs: readonly number[]): string => `  [reps: ${xs.map((x) => Math.round(x / 1000)).join(", ")}k]`;
    process.stdout.write(
      [
        `events bench${o.secure ? " (authorization on: nkey user, per-subject allow-list)" : ""}: ${perActor * actors} events, ${actors} actors, batches of ${batch}, ${sampleBytes}-byte envelopes, best of ${reps}`,
        `  raw JetStream publish (async acks)   ${f(result.figures.raw_publish_eps)} events/s${spread(all.rawPublish)}`,
        `    (raw, lean ack pipeline:           ${f(Math.round(best.rawLean))} events/s; append is x${(best.append / best.rawLean).toFixed(3)} of it)${spread(all.rawLean)}`,
        `  Swarmline signed append              ${f(result.figures.append_eps)} events/s  append_vs_raw ${result.ratios.append_vs_raw} (target >= 0.7)${spread(all.append)}`,
        `  raw ordered-consumer replay          ${f(result.figures.raw_replay_eps)} events/s${spread(all.rawReplay)}`,
        `  Swarmline verified replay            ${f(result.figures.verified_replay_eps)} events/s  replay_vs_raw ${result.ratios.replay_vs_raw} (targets >= 0.5, >= 50,000 events/s)${spread(all.verifiedReplay)}`,
        `    (the same run read, not verified:  ${f(Math.round(best.readOnly))} events/s; verified is x${(best.verifiedReplay / best.readOnly).toFixed(3)} of it)${spread(all.readOnly)}`,
        `    (read and verify in one thread:    ${f(Math.round(best.singleThread))} events/s)${spread(all.singleThread)}`,
        "",
      ].join("\n"),
    );
    await verifyWorker.stop();
    return result;
  } finally {
    await nc.drain();
    await nats.stop();
  }
};

// `npm run bench -- events [--events N] [--actors A] [--batch B]`: in one run against one embedded
// nats-server, the raw JetStream baseline (async-ack publish, ordered-consumer replay) and
// Swarmline's signed append (ActorChain.seal + EventLog.append) and verified replay (EventLog.read
// + LogVerifier). Prints the figures and writes bench/results/events.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { jetstream, jetstreamManager, type PubAck } from "@nats-io/jetstream";
import { Effect, Stream } from "effect";
import { EventLog } from "../src/actors/eventlog/service.js";
import { certifySessionKey, fixedRng, loadHotkey, nodeCrypto, sessionKey } from "../src/actors/identity/index.js";
import { connectNats } from "../src/actors/nats/connection.js";
import { startEmbeddedNats } from "../src/actors/nats/embedded.js";
import { layerNats } from "../src/actors/nats/eventlog.js";
import { ActorChain, sessionCertifiedDraft } from "../src/events/chain.js";
import type { Draft, Envelope } from "../src/events/envelope.js";
import { buildRegistry } from "../src/events/registry.js";
import { coreEvents } from "../src/events/schemas/index.js";
import { LogVerifier } from "../src/events/verify.js";

const RUN = "bench";
/** In-flight publishes of the raw baseline (the same window the EventLog's append uses). */
const RAW_WINDOW = 4096;

const arg = (args: string[], name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
};

const seconds = (t0: number): number => (performance.now() - t0) / 1000;

/** One signing actor: hotkey, session key, chain, and a supply of ClockTicked drafts. */
const makeActor = (i: number) => {
  const hotkey = loadHotkey(`//Bench${i}`);
  const session = sessionKey(new Uint8Array(32).fill(i + 1));
  const chain = new ActorChain(nodeCrypto, session, RUN, hotkey.address);
  let tick = 0;
  const drafts = (n: number): Draft[] =>
    Array.from({ length: n }, () => {
      tick += 1;
      return { id: `b${i}-${tick}`, type: "ClockTicked", v: 1, step: tick, at: 1_700_000_000_000 + tick, payload: { tick } };
    });
  const open = (): Envelope[] =>
    chain.seal([sessionCertifiedDraft(certifySessionKey(hotkey, RUN, session, fixedRng()), { id: `b${i}-cert`, step: 0 })]);
  return { actor: hotkey.address, chain, drafts, open };
};

export const run = async (args: string[]): Promise<void> => {
  const events = arg(args, "events", 60_000);
  const actors = arg(args, "actors", 8);
  const batch = arg(args, "batch", 64);
  const nats = await startEmbeddedNats();
  const nc = await connectNats(nats.url);
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const layer = layerNats(nc);
    const registry = buildRegistry(coreEvents);

    // A sample envelope fixes the raw payload size: the baseline moves the same bytes.
    const sample = makeActor(99);
    sample.open();
    const sampleBytes = JSON.stringify(sample.chain.seal(sample.drafts(batch)).at(-2)).length;
    const payload = new Uint8Array(sampleBytes).fill(120);

    // 1. Raw JetStream publish with async acks (RAW_WINDOW in flight).
    await jsm.streams.add({ name: "RAW", subjects: ["raw.>"], storage: "file", duplicate_window: 120_000_000_000 });
    let t0 = performance.now();
    for (let i = 0; i < events; i += RAW_WINDOW) {
      const acks: Promise<PubAck>[] = [];
      for (let k = i; k < Math.min(events, i + RAW_WINDOW); k++) acks.push(js.publish("raw.x", payload, { msgID: `raw-${k}` }));
      await Promise.all(acks);
    }
    const rawPublish = events / seconds(t0);

    // 2. Raw ordered-consumer replay of those messages (bytes only).
    t0 = performance.now();
    const consumer = await js.consumers.get("RAW", { filter_subjects: "raw.x" });
    const it = await consumer.consume({ max_messages: 2048 });
    let replayed = 0;
    let rawBytes = 0;
    for await (const m of it) {
      replayed += 1;
      rawBytes += m.data.length;
      if (m.info.pending === 0) break;
    }
    const rawReplay = replayed / seconds(t0);

    // 3. Swarmline signed append: each actor seals batches on its chain and appends them with
    //    the expected last subject sequence; the actors run concurrently, as actor hosts do.
    const perActor = Math.ceil(events / actors);
    const team = Array.from({ length: actors }, (_, i) => makeActor(i));
    t0 = performance.now();
    const appended = await Effect.runPromise(
      Effect.provide(
        Effect.gen(function* () {
          const log = yield* EventLog;
          const counts = yield* Effect.all(
            team.map((a) =>
              Effect.gen(function* () {
                let last = 0;
                let n = 0;
                let first = true;
                while (n < perActor) {
                  const k = Math.min(batch, perActor - n);
                  const envs = first ? [...a.open(), ...a.chain.seal(a.drafts(k - 1))] : a.chain.seal(a.drafts(k));
                  first = false;
                  const seqs = yield* log.append(RUN, a.actor, envs, { expectedLastSubjectSeq: last });
                  last = seqs[seqs.length - 1] ?? last;
                  n += k;
                }
                return n;
              }),
            ),
            { concurrency: "unbounded" },
          );
          return counts.reduce((x, y) => x + y, 0);
        }),
        layer,
      ),
    );
    const append = appended / seconds(t0);

    // 4. Verified replay: EventLog.read (ordered consumer, one JSON parse per event) through the
    //    streaming LogVerifier (shape, schema, hash, chain link, checkpoint signatures).
    t0 = performance.now();
    const verdict = await Effect.runPromise(
      Effect.provide(
        Effect.gen(function* () {
          const log = yield* EventLog;
          const v = new LogVerifier(nodeCrypto, registry, { run: RUN });
          yield* log.read(RUN).pipe(
            Stream.runForEachArray((chunk) => {
              for (const e of chunk) v.event(e.seq, e.envelope);
              return Effect.void;
            }),
          );
          return v.result();
        }),
        layer,
      ),
    );
    const verifiedReplay = (verdict.ok ? verdict.events : 0) / seconds(t0);
    if (!verdict.ok) throw new Error(`verified replay failed: ${JSON.stringify(verdict)}`);

    const result = {
      ratios: {
        append_vs_raw: Number((append / rawPublish).toFixed(3)),
        replay_vs_raw: Number((verifiedReplay / rawReplay).toFixed(3)),
      },
      figures: {
        raw_publish_eps: Math.round(rawPublish),
        append_eps: Math.round(append),
        raw_replay_eps: Math.round(rawReplay),
        verified_replay_eps: Math.round(verifiedReplay),
      },
    };
    process.stdout.write(
      [
        `events bench: ${events} events, ${actors} actors, batches of ${batch}, ${sampleBytes}-byte envelopes (raw payload ${rawBytes / replayed} bytes)`,
        `  raw JetStream publish (async acks)   ${result.figures.raw_publish_eps.toLocaleString("en")} events/s`,
        `  Swarmline signed append              ${result.figures.append_eps.toLocaleString("en")} events/s  (x${result.ratios.append_vs_raw} of raw; target >= 0.7)`,
        `  raw ordered-consumer replay          ${result.figures.raw_replay_eps.toLocaleString("en")} events/s`,
        `  Swarmline verified replay            ${result.figures.verified_replay_eps.toLocaleString("en")} events/s  (x${result.ratios.replay_vs_raw} of raw; targets >= 50,000 and >= 0.5)`,
        "",
      ].join("\n"),
    );
    const out = new URL("./results/", import.meta.url);
    mkdirSync(out, { recursive: true });
    writeFileSync(new URL("events.json", out), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await nc.drain();
    await nats.stop();
  }
};

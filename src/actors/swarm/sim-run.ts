// A whole swarm in one process: an orchestrator host and N miner hosts on one NATS (embedded
// unless a URL is given), sharing one run feed, one KernelPool and one set of stage kernels, with
// fault injection (a killed miner, random dropout with rejoin) and periodic validation of the
// composed model. Roles still talk only through JetStream; the harness only starts, kills and
// watches them. `swarmline sim` is a thin CLI over `runSwarmSim`.
import { randomBytes } from "node:crypto";
import { Effect } from "effect";
import { sotuCorpus } from "../../kernels/data/corpus.js";
import { KernelPool } from "../../kernels/runtime/pool.js";
import { checkInvariants, type OrchestratorState } from "../../machines/orchestrator/index.js";
import { rngFor } from "../../machines/protocol/index.js";
import { exportLog } from "../eventlog/transfer.js";
import { EventLog } from "../eventlog/service.js";
import { cryptoReady, loadHotkey } from "../identity/index.js";
import { natsBlobStore } from "../nats/blobs.js";
import { connectNats } from "../nats/connection.js";
import { natsDataChannel } from "../nats/data-channel.js";
import { startEmbeddedNats, type EmbeddedNats } from "../nats/embedded.js";
import { makeNatsEventLog } from "../nats/eventlog.js";
import { StageKernels } from "./compute.js";
import { validationBpb, valBatches } from "./evaluate.js";
import { startRunFeed } from "./feed.js";
import { startMinerHost, type MinerHost, type MinerHostOptions } from "./miner-host.js";
import { readModel } from "./model.js";
import { startOrchestratorHost } from "./orchestrator-host.js";
import { buildRunConfig, type SwarmSettings } from "./run-config.js";
import { RunStats } from "./stats.js";

export interface SimOptions extends SwarmSettings {
  readonly miners: number;
  /** NATS URL; default an embedded server for the run's duration. */
  readonly nats?: string;
  /** Kill miner `miner` (index or hotkey URI) once `step` microbatches completed, or mid-merge: once it sent its partitions to one. */
  readonly kill?: readonly KillAt[];
  /** Miners (by index) that join only once `step` microbatches completed, or once `when` holds of the run's state. */
  readonly lateJoin?: readonly ({ readonly miner: number; readonly step: number } | { readonly miner: number; readonly when: (view: OrchestratorState) => boolean })[];
  /** Per clock tick, per live miner, probability it dies (it rejoins `rejoinTicks` later). */
  readonly dropout?: number;
  readonly rejoinTicks?: number;
  /** Evaluate validation bpb every this many completed microbatches (and at the end). */
  readonly evalEvery?: number;
  readonly evalBatches?: number;
  readonly workers?: number;
  readonly threads?: number;
  readonly tickMs?: number;
  /** Write the run's log as JSONL lines here at the end. */
  readonly logLines?: (lines: readonly string[]) => void;
  readonly onProgress?: (p: SimProgress) => void;
  /** Called once, when the feed shows the last microbatch completed (before validation and teardown). */
  readonly onCompleted?: (tokens: number) => void;
  readonly run?: string;
  /** Stop the orchestrator once this many microbatches completed and start a fresh one (a crash and restart). */
  readonly restartOrchestratorAt?: number;
}

/** When a sim kills a miner. */
export type KillAt = { readonly miner: string; readonly step: number } | { readonly miner: string; readonly midMerge: true };

export interface SimProgress {
  readonly completed: number;
  readonly total: number;
  readonly tokens: number;
  readonly tokensPerSecond: number;
  readonly loss: number | undefined;
  readonly valBpb: number | undefined;
  readonly minersPerStage: readonly number[];
  readonly merges: number;
  readonly reissued: number;
}

/** The `--json` shape of a sim, plus the per-microbatch losses (by microbatch index). */
export interface SimResult {
  readonly runId: string;
  readonly steps: number;
  readonly tokens: number;
  readonly tokensPerSecond: number;
  readonly valBpb: number;
  readonly lossCurve: [number, number][];
  readonly compressionRatio: number;
  readonly merges: { readonly done: number; readonly skipped: number; readonly disputes: number };
  readonly microbatches: { readonly issued: number; readonly completed: number; readonly reissued: number; readonly lost: number };
  readonly events: number;
  readonly losses: readonly number[];
  readonly violations: readonly string[];
}

/** Runs a swarm to completion and reports it. */
export const runSwarmSim = async (o: SimOptions): Promise<SimResult> => {
  await cryptoReady();
  const nats: EmbeddedNats | undefined = o.nats === undefined ? await startEmbeddedNats() : undefined;
  const nc = await connectNats(o.nats ?? (nats as EmbeddedNats).url, "swarmline-sim");
  const run = o.run ?? `sim-${o.seed}-${randomBytes(3).toString("hex")}`;
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const log = makeNatsEventLog(nc);
    const blobs = await natsBlobStore(nc, run);
    const data = await natsDataChannel(nc, run);
    const orchKey = loadHotkey("//Alice");
    const config = await buildRunConfig({ run, orchestrator: orchKey.address, settings: o, blobs });
    const model = readModel(config);
    const corpus = sotuCorpus();
    const pool = await KernelPool.create({ workers: o.workers ?? 2, threadsPerWorker: o.threads ?? 1 });
    cleanups.push(() => pool.close());
    const kernels = new StageKernels(pool, model.gpt, run);
    cleanups.push(() => kernels.release());
    const feed = await startRunFeed(nc, run);
    cleanups.push(() => feed.stop());
    const stats = new RunStats(model);
    feed.listen((i) => stats.observe(i.fact));
    const errors: unknown[] = [];
    const onError = (e: unknown): void => {
      errors.push(e);
      process.stderr.write(`sim: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    };
    const orchestrate = () => startOrchestratorHost({ feed, log, hotkey: orchKey, config, tickMs: o.tickMs ?? 100, onError });
    let orch = await orchestrate();
    cleanups.push(() => orch.stop());
    let finished: (s: ReturnType<typeof feed.view>) => void = () => undefined;
    const completed = new Promise<ReturnType<typeof feed.view>>((resolve) => (finished = resolve));
    let restart = o.restartOrchestratorAt;
    let over = false;
    feed.listen(({ view }) => {
      if (view.done && !over) {
        over = true;
        o.onCompleted?.(view.counters.tokens);
        finished(view);
      }
      if (restart !== undefined && view.counters.completed >= restart) {
        restart = undefined;
        // The old host dies between two decisions; the new one refolds the log and carries on.
        void orch.stop().then(async () => {
          orch = await orchestrate();
        }).catch(onError);
      }
    });

    const uris = Array.from({ length: o.miners }, (_, i) => `//Miner${i}`);
    const keys = uris.map((u) => loadHotkey(u));
    const hosts = new Map<number, MinerHost>();
    const base: Omit<MinerHostOptions, "hotkey"> = { feed, log, data, blobs, kernels: () => kernels, corpus, onError };
    const start = async (i: number): Promise<void> => {
      hosts.set(i, await startMinerHost({ ...base, hotkey: keys[i] as (typeof keys)[number] }));
    };
    const late = new Map((o.lateJoin ?? []).map((j) => [j.miner, "step" in j ? (v: OrchestratorState) => v.counters.completed >= j.step : j.when]));
    for (let i = 0; i < o.miners; i++) if (!late.has(i)) await start(i);
    feed.listen(({ view }) => {
      for (const [i, ready] of late) if (ready(view)) {
        late.delete(i);
        void start(i).catch(onError);
      }
    });
    cleanups.push(async () => { for (const h of hosts.values()) await h.kill(); });

    // Faults, driven by the log: kills at a completed count or mid-merge, dropout per recorded clock tick.
    const kills = (o.kill ?? []).map((k) => ({ ...k, index: indexOf(k.miner, uris, keys.map((x) => x.address)), done: false }));
    const dead = new Map<number, number>(); // miner index -> tick it rejoins
    feed.listen(({ fact, view }) => {
      for (const k of kills) if (!k.done && ("step" in k ? view.counters.completed >= k.step : fact.type === "PartitionsSent" && fact.actor === keys[k.index]?.address)) {
        k.done = true;
        const h = hosts.get(k.index);
        hosts.delete(k.index);
        void h?.kill();
      }
      if (fact.type !== "ClockTicked" || view.done) return;
      const tick = fact.payload.tick;
      for (const [i, at] of [...dead]) if (at <= tick) {
        dead.delete(i);
        void start(i).catch(onError);
      }
      if ((o.dropout ?? 0) <= 0) return;
      for (const [i, h] of [...hosts]) if (rngFor(String(o.seed), "sim:dropout", tick, i).float() < (o.dropout ?? 0)) {
        hosts.delete(i);
        dead.set(i, tick + (o.rejoinTicks ?? 30));
        void h.kill();
      }
    });

    // Validation of the composed model: one live miner per stage (lowest index).
    const vb = valBatches(corpus, model, o.evalBatches ?? 8);
    const curve: [number, number][] = [];
    const composed = async (): Promise<Record<string, Float32Array> | undefined> => {
      const out: Record<string, Float32Array> = {};
      for (let s = 0; s < model.gpt.stages; s++) {
        let p: Record<string, Float32Array> | undefined;
        for (const [, h] of [...hosts.entries()].sort((a, b) => a[0] - b[0])) {
          if (h.stage() !== s) continue;
          p = await h.params().catch(() => undefined); // a miner killed meanwhile: try the next one
          if (p !== undefined) break;
        }
        if (p === undefined) return undefined;
        Object.assign(out, p);
      }
      return out;
    };
    let evals: Promise<void> = Promise.resolve();
    const evaluateAt = (tokens: number): void => {
      // The weights are read when the evaluation is asked for (in the workers' order), evaluated in turn.
      const params = composed();
      evals = evals.then(async () => {
        const p = await params;
        if (p !== undefined) curve.push([tokens, await validationBpb(kernels, p, vb)]);
      }).catch(onError);
    };
    const every = o.evalEvery ?? 50;
    let nextEval = every;
    const started = performance.now();
    feed.listen(({ fact, view }) => {
      if (fact.type === "MicrobatchCompleted" && view.counters.completed >= nextEval && view.counters.completed < o.microbatches) {
        nextEval += every;
        evaluateAt(view.counters.tokens);
      }
    });
    const progress = setInterval(() => {
      const v = feed.view();
      const secs = (performance.now() - started) / 1000;
      o.onProgress?.({
        completed: v.counters.completed, total: o.microbatches, tokens: v.counters.tokens, tokensPerSecond: secs > 0 ? v.counters.tokens / secs : 0,
        loss: stats.lastLoss(), valBpb: curve[curve.length - 1]?.[1], minersPerStage: v.stages.map((_, s) => Object.values(v.miners).filter((m) => m.status === "active" && m.stage === s).length),
        merges: v.counters.mergesDone, reissued: v.counters.reissued,
      });
    }, 500);
    cleanups.push(async () => clearInterval(progress));

    const final = await Promise.race([completed, feed.done.then(() => { throw new Error("the run feed stopped"); })]);
    const secs = (performance.now() - started) / 1000;
    const params = composed();
    await evals;
    const last = await params;
    if (last !== undefined) curve.push([final.counters.tokens, await validationBpb(kernels, last, vb)]);
    // Let miners record their last facts, then read the log as it stands.
    for (const h of hosts.values()) await h.leave("run completed").catch(onError);
    hosts.clear();
    if (o.logLines !== undefined) await Effect.runPromise(exportLog(run, o.logLines).pipe(Effect.provideService(EventLog, log)));
    const schedule = checkInvariants(stats.facts());
    const c = final.counters;
    return {
      runId: run,
      steps: c.completed,
      tokens: c.tokens,
      tokensPerSecond: secs > 0 ? c.tokens / secs : 0,
      valBpb: curve[curve.length - 1]?.[1] ?? Number.NaN,
      lossCurve: curve,
      compressionRatio: stats.compressionRatio(),
      merges: { done: c.mergesDone, skipped: c.partitionsSkipped, disputes: c.disputes },
      microbatches: { issued: c.issued, completed: c.completed, reissued: c.reissued, lost: o.microbatches - stats.distinctCompleted() },
      events: feed.events(),
      losses: stats.losses(),
      violations: [...schedule.violations, ...errors.map((e) => `host error: ${e instanceof Error ? e.message : String(e)}`)],
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await nc.drain().catch(() => undefined);
    await nats?.stop();
  }
};

/** A miner given as an index ("3") or a hotkey URI ("//Miner3") or address. */
const indexOf = (m: string, uris: readonly string[], addresses: readonly string[]): number => {
  const byIndex = Number(m);
  if (Number.isInteger(byIndex) && byIndex >= 0 && byIndex < uris.length) return byIndex;
  const i = uris.indexOf(m) >= 0 ? uris.indexOf(m) : addresses.indexOf(m);
  if (i < 0) throw new RangeError(`--kill-miner: no miner "${m}" (use 0..${uris.length - 1})`);
  return i;
};

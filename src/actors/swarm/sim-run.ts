// A whole swarm in one process: an orchestrator host and N miner hosts on one NATS (embedded
// unless a URL is given), sharing one run feed, one KernelPool and one set of stage kernels, with
// fault injection (a killed miner, random dropout with rejoin) and periodic validation of the
// composed model. Roles still talk only through JetStream; the harness only starts, kills and
// watches them. `swarmline sim` is a thin CLI over `runSwarmSim`.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { sotuCorpus } from "../../kernels/data/corpus.js";
import { KernelPool } from "../../kernels/runtime/pool.js";
import { checkInvariants, type OrchestratorState } from "../../machines/orchestrator/index.js";
import { rngFor } from "../../machines/protocol/index.js";
import { cryptoReady, loadHotkey } from "../identity/index.js";
import type { JoinRole } from "../../machines/gatekeeper/index.js";
import { streamLeader } from "../nats/cluster.js";
import { reportOutages } from "../nats/connection.js";
import { streams } from "../../events/subjects.js";
import { exportFromNats } from "../nats/export.js";
import { StageKernels } from "./stage-kernels.js";
import { validationBpb, valBatches } from "./evaluate.js";
import { startHeadAnchors } from "./anchor.js";
import { cpuMeter, type CpuUse } from "./cpu.js";
import { phaseTimer, type PhaseTimes } from "./phases.js";
import { type FactJournal, type ServedJournal, serveJournal } from "./journal.js";
import { type RunFeed, startRunFeed } from "./feed.js";
import { startMinerHost, type MinerHost, type MinerHostOptions } from "./miner-host.js";
import { readModel } from "./model.js";
import { startOrchestratorHost } from "./orchestrator-host.js";
import { buildRunConfig, type SwarmSettings } from "./run-config.js";
import { RunStats, runFigures } from "./stats.js";
import type { ScoringSettings } from "../../machines/scorer/index.js";
import { startValidatorHost } from "../validator/host.js";
import type { AdversaryKind } from "./adversary.js";
import { openSimBus, type SimBus } from "./sim-bus.js";
import { defaultScoring, type MinerScoreSummary, summarizeScores } from "./sim-scoring.js";

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
  /**
   * Awaited once the run completed, before its miners leave: the producers still run and still
   * answer refills from their journals (a reader of the run that must catch up first, say one
   * started after the bus lost facts).
   */
  readonly beforeLeave?: () => Promise<void>;
  readonly run?: string;
  /** Stop the orchestrator once this many microbatches completed and start a fresh one (a crash and restart). */
  readonly restartOrchestratorAt?: number;
  /** Adversarial miners: `miner` by index or hotkey URI. */
  readonly adversaries?: readonly { readonly kind: AdversaryKind; readonly miner: string }[];
  /** A validator scores the run (default on); settings override defaultScoring's. */
  readonly validator?: false | Partial<ScoringSettings>;
  /** Per-actor NATS permissions: miners and the validator join through a gatekeeper (embedded server only). */
  readonly secure?: boolean;
  /** Append the orchestrator's signed anchored heads to this file (every scoring window and at completion). */
  readonly headFile?: string;
  /** Run on an embedded cluster of this many nodes (its streams R3) instead of one server. */
  readonly cluster?: number;
  /**
   * SIGKILL the sim's own server node `node` (1-based, or the facts stream's leader) once `step`
   * microbatches completed, and restart it `restartAfterMs` later (default 3 s) on its port and store.
   */
  readonly killNode?: readonly { readonly node: number | "leader"; readonly step: number; readonly restartAfterMs?: number }[];
  /**
   * Where every actor journals the facts it stored (refills when the bus loses some); default a
   * temporary directory removed when the sim ends.
   */
  readonly journalDir?: string;
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
  /** The validator's conclusions per miner (by hotkey address), when one ran. */
  readonly scores: Readonly<Record<string, MinerScoreSummary>>;
  /** The adversaries' hotkey addresses (the keys of `scores`). */
  readonly adversaries: readonly string[];
  /** The validator's hotkey address, when one ran. */
  readonly validator?: string;
  /** CPU used while it trained (the span tokensPerSecond is timed over), its own nats-servers' as childSeconds. */
  readonly cpu?: CpuUse;
  /** Wall time by phase as the sim's feed saw the facts: each lease's path, each stage merge (live sims only). */
  readonly phases?: PhaseTimes;
}

/** Runs a swarm to completion and reports it. */
export const runSwarmSim = async (o: SimOptions): Promise<SimResult> => {
  await cryptoReady();
  const run = o.run ?? `sim-${o.seed}-${randomBytes(3).toString("hex")}`;
  const orchKey = loadHotkey("//Alice");
  const validatorKey = loadHotkey("//Validator");
  const uris = Array.from({ length: o.miners }, (_, i) => `//Miner${i}`);
  const keys = uris.map((u) => loadHotkey(u));
  const minerAddresses = keys.map((k) => k.address);
  // The gatekeeper's registry on a secured bus: the sim's miners and its validator.
  const members = new Map<string, ReadonlySet<JoinRole>>([...minerAddresses.map((a) => [a, new Set<JoinRole>(["miner"])] as const), [validatorKey.address, new Set<JoinRole>(["validator"])]]);
  const bus = await openSimBus({ run, ...(o.nats === undefined ? {} : { nats: o.nats }), ...(o.cluster === undefined ? {} : { cluster: o.cluster }), secure: o.secure === true, members, root: orchKey.address });
  const { nc, log, blobs, data } = bus.root;
  const cleanups: (() => Promise<unknown>)[] = [];
  const quiet = reportOutages(nc, "sim", (line) => process.stderr.write(`${line}\n`));
  cleanups.push(async () => quiet());
  try {
    const config = await buildRunConfig({ run, orchestrator: orchKey.address, settings: o, blobs });
    const model = readModel(config);
    const corpus = sotuCorpus();
    const pool = await KernelPool.create({ workers: o.workers ?? 2, threadsPerWorker: o.threads ?? 1 });
    cleanups.push(() => pool.close());
    const kernels = new StageKernels(pool, model.gpt, run);
    cleanups.push(() => kernels.release());
    // Every actor's journal, answering refill requests for the whole sim (a miner's journal outlives its process, as its disk would).
    const journalDir = o.journalDir ?? mkdtempSync(join(tmpdir(), "swarmline-journal-"));
    if (o.journalDir === undefined) cleanups.push(async () => rmSync(journalDir, { recursive: true, force: true }));
    const journals = new Map<string, ServedJournal>();
    const journalOf = (actor: string): FactJournal => {
      let j = journals.get(actor);
      if (j === undefined) {
        j = serveJournal(nc, run, actor, journalDir, (e) => process.stderr.write(`sim: ${e.message}\n`));
        journals.set(actor, j);
      }
      return j.journal;
    };
    cleanups.push(async () => { await Promise.all([...journals.values()].map((j) => j.stop())); });
    const feed = await startRunFeed(nc, run);
    cleanups.push(() => feed.stop());
    const stats = new RunStats(model);
    feed.listen((i) => stats.observe(i.fact));
    const errors: unknown[] = [];
    const onError = (e: unknown): void => {
      errors.push(e);
      process.stderr.write(`sim: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    };
    // A fresh head file for this run; without a validator's window, an anchor every 50 microbatches (and one at completion).
    if (o.headFile !== undefined) writeFileSync(o.headFile, "");
    const anchors = o.headFile === undefined ? undefined : startHeadAnchors({ feed, hotkey: orchKey, file: o.headFile, every: 50, onError });
    cleanups.push(async () => anchors?.stop());
    // The validator: its own feed from the run's first fact, the sim's kernels for re-execution.
    // It starts before the run, so it records its settings before the first window's work.
    const vbus = o.validator === false ? undefined : await bus.member(validatorKey, "validator");
    if (vbus !== undefined && vbus !== bus.root) cleanups.push(() => vbus.close());
    const validator = vbus === undefined ? undefined : await startValidatorHost({
      nc: vbus.nc, run, log: vbus.log, hotkey: validatorKey, blobs: vbus.blobs, data: vbus.data, kernels: () => kernels, corpus, onError,
      ...(vbus.sessionSeed === undefined ? {} : { sessionSeed: vbus.sessionSeed }),
      settings: { ...defaultScoring(o.microbatches, minerAddresses, orchKey.address), ...(o.validator ?? {}) }, journal: journalOf(validatorKey.address),
    });
    if (validator !== undefined) cleanups.push(() => validator.stop());
    const orchestrate = () => startOrchestratorHost({ feed, log, hotkey: orchKey, config, tickMs: o.tickMs ?? 100, onError, journal: journalOf(orchKey.address) });
    // Throughput is timed from the first lease: the run trains while later miners still start (on
    // a cluster, where each start creates replicated consumers, a short run can end before them).
    let started: number | undefined;
    let meter: ReturnType<typeof cpuMeter> | undefined;
    const phases = phaseTimer();
    feed.listen(({ fact }) => phases.observe(fact, performance.now()));
    const unlistenStart = feed.listen(({ fact }) => {
      if (fact.type === "MicrobatchLeased") {
        started = performance.now();
        meter = cpuMeter(() => bus.nodes.map((n) => n.pid));
        unlistenStart();
      }
    });
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

    const outages = nodeFaults(bus, run, o.killNode ?? [], feed, onError);
    cleanups.push(() => outages.settled());

    const addresses = minerAddresses;
    const hosts = new Map<number, MinerHost>();
    const adversary = new Map((o.adversaries ?? []).map((a) => [minerIndex(a.miner, uris, addresses, "--adversary"), a.kind]));
    const colluders = new Set([...adversary].filter(([, k]) => k === "colluding").map(([i]) => addresses[i] as string));
    const base: Omit<MinerHostOptions, "hotkey"> = { feed, log, data, blobs, kernels: () => kernels, corpus, onError, isColluder: (m) => colluders.has(m) };
    const start = async (i: number): Promise<void> => {
      const kind = adversary.get(i);
      const hotkey = keys[i] as (typeof keys)[number];
      // Secured, each miner (and each restart of one) joins through the gatekeeper on its own connection.
      const own = await bus.member(hotkey, "miner");
      const ownIo = own === bus.root ? {} : { log: own.log, data: own.data, blobs: own.blobs, ...(own.sessionSeed === undefined ? {} : { sessionSeed: own.sessionSeed }) };
      const h = await startMinerHost({ ...base, ...ownIo, hotkey, journal: journalOf(hotkey.address), ...(kind === undefined ? {} : { adversary: kind }) });
      if (own !== bus.root) void h.done.then(() => own.close());
      hosts.set(i, h);
    };
    // A kicked miner loses its place on a secured bus too (the server disconnects it).
    if (bus.secure) feed.listen(({ fact, view }) => {
      if (fact.type === "MinerKicked" && fact.actor === view.config?.orchestrator) void bus.remove(fact.payload.miner).catch(onError);
    });


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
    const kills = (o.kill ?? []).map((k) => ({ ...k, index: minerIndex(k.miner, uris, keys.map((x) => x.address)), done: false }));
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
    feed.listen(({ fact, view }) => {
      if (fact.type === "MicrobatchCompleted" && view.counters.completed >= nextEval && view.counters.completed < o.microbatches) {
        nextEval += every;
        evaluateAt(view.counters.tokens);
      }
    });
    const progress = setInterval(() => {
      const v = feed.view();
      const secs = started === undefined ? 0 : (performance.now() - started) / 1000;
      o.onProgress?.({
        completed: v.counters.completed, total: o.microbatches, tokens: v.counters.tokens, tokensPerSecond: secs > 0 ? v.counters.tokens / secs : 0,
        loss: stats.lastLoss(), valBpb: curve[curve.length - 1]?.[1], minersPerStage: v.stages.map((_, s) => Object.values(v.miners).filter((m) => m.status === "active" && m.stage === s).length),
        merges: v.counters.mergesDone, reissued: v.counters.reissued,
      });
    }, 500);
    cleanups.push(async () => clearInterval(progress));

    const final = await Promise.race([completed, feed.done.then(() => { throw new Error("the run feed stopped"); })]);
    const secs = started === undefined ? 0 : (performance.now() - started) / 1000;
    const cpu = meter?.stop();
    // The miners stay until the validator judged the last window (they open the weights its checks name).
    if (validator !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([validator.done, new Promise((r) => (timer = setTimeout(r, 120_000)))]);
      clearTimeout(timer);
    }
    const params = composed();
    await evals;
    const last = await params;
    if (last !== undefined) curve.push([final.counters.tokens, await validationBpb(kernels, last, vb)]);
    await o.beforeLeave?.();
    // Let miners record their last facts, then read the log as it stands.
    for (const h of hosts.values()) await h.leave("run completed").catch(onError);
    hosts.clear();
    // The last anchor holds the whole log as it stands (the validator's last window, the miners' leaving).
    if (anchors !== undefined) {
      await feed.reached(await Effect.runPromise(log.lastSeq(run)));
      anchors.final();
    }
    if (o.logLines !== undefined) await Effect.runPromise(exportFromNats(nc, run, o.logLines));
    const schedule = checkInvariants(stats.facts());
    const c = final.counters;
    return {
      ...runFigures({ run, counters: c, secs, curve, stats, microbatches: o.microbatches, events: feed.events() }),
      violations: [...schedule.violations, ...errors.map((e) => `host error: ${e instanceof Error ? e.message : String(e)}`)],
      scores: validator === undefined ? {} : summarizeScores(stats.facts(), validator.id),
      adversaries: [...adversary.keys()].sort((a, b) => a - b).map((i) => addresses[i] as string),
      ...(validator === undefined ? {} : { validator: validator.id }),
      ...(cpu === undefined ? {} : { cpu }),
      phases: phases.summary(),
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await bus.close();
  }
};

/** Kills the sim's own server nodes at completed-microbatch counts and restarts each later; `settled()` waits for the restarts. */
const nodeFaults = (
  bus: SimBus, run: string, kills: NonNullable<SimOptions["killNode"]>, feed: RunFeed, onError: (e: unknown) => void,
): { settled(): Promise<unknown> } => {
  const { nodes } = bus;
  for (const k of kills) if (nodes.length === 0 || (k.node !== "leader" && nodes[k.node - 1] === undefined))
    throw new RangeError(`--kill-node ${k.node}@${k.step}: the sim runs ${nodes.length} server node${nodes.length === 1 ? "" : "s"} of its own`);
  const pending = [...kills];
  const restarts: Promise<void>[] = [];
  /** The node to kill, 1-based: the facts stream's leader as the stream reports it, or the one named. */
  const pick = async (node: number | "leader"): Promise<number> => {
    if (node !== "leader") return node;
    if (nodes.length === 1) return 1;
    const name = await streamLeader(bus.root.nc, streams.facts(run));
    const i = name === undefined ? -1 : bus.names.indexOf(name);
    if (i < 0) throw new Error(`the facts stream's leader (${name ?? "none"}) is not one of the sim's nodes`);
    return i + 1;
  };
  feed.listen(({ view }) => {
    for (const k of [...pending]) if (view.counters.completed >= k.step) {
      pending.splice(pending.indexOf(k), 1);
      const after = k.restartAfterMs ?? 3_000;
      const at = view.counters.completed;
      restarts.push(pick(k.node).then(async (i) => {
        const node = nodes[i - 1] as SimBus["nodes"][number];
        process.stderr.write(`sim: SIGKILL of server node ${i} ${bus.names[i - 1]}${k.node === "leader" ? " (the facts stream's leader)" : ""} after ${at} microbatches; restarting it in ${after / 1000} s\n`);
        await node.kill();
        await new Promise((r) => setTimeout(r, after));
        await node.restart();
        process.stderr.write(`sim: server node ${i} restarted on ${node.url}\n`);
      }).catch(onError));
    }
  });
  return { settled: () => Promise.all(restarts) };
};

/** A miner given as an index ("3") or a hotkey URI ("//Miner3") or address. */
export const minerIndex = (m: string, uris: readonly string[], addresses: readonly string[], flag = "--kill-miner"): number => {
  const byIndex = Number(m);
  if (Number.isInteger(byIndex) && byIndex >= 0 && byIndex < uris.length) return byIndex;
  const i = uris.indexOf(m) >= 0 ? uris.indexOf(m) : addresses.indexOf(m);
  if (i < 0) throw new RangeError(`${flag}: no miner "${m}" (use 0..${uris.length - 1})`);
  return i;
};

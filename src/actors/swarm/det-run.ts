// `swarmline sim --deterministic`: the pure simulator's loop (one orchestrator decider, N worker
// machines, an optional validator, a logical clock, seeded faults) with real kernels at its compute
// seam, every fact sealed onto its actor's signed chain as it happens. Keys, certificate nonces and
// `at` timestamps come from the seed and the virtual clock, so two runs with one seed write the
// same bytes; the real-time, NATS-backed `runSwarmSim` stays the way to measure throughput.
import { createHash } from "node:crypto";
import { sotuCorpus } from "../../kernels/data/corpus.js";
import { KernelPool } from "../../kernels/runtime/pool.js";
import { checkInvariants, type OrchestratorState } from "../../machines/orchestrator/index.js";
import { type SimMiner, simulateAsync } from "../../machines/sim/index.js";
import { cryptoReady, loadHotkey, type Rng, sessionKey } from "../identity/index.js";
import { type ActorKey, signedLog } from "../identity/signed-log.js";
import { reexecute } from "../validator/reexecute.js";
import { memoryBlobStore } from "./blob-store.js";
import { StageKernels } from "./stage-kernels.js";
import { kernelCompute } from "./det-compute.js";
import { validationBpb, valBatches } from "./evaluate.js";
import { effectPriority } from "./miner-host.js";
import { readModel } from "./model.js";
import { buildRunConfig } from "./run-config.js";
import { minerIndex, type SimOptions, type SimResult } from "./sim-run.js";
import { defaultScoring, summarizeScores } from "./sim-scoring.js";
import { RunStats, runFigures } from "./stats.js";

/** Options of a deterministic run: the real-time sim's, less what needs a bus or wall-clock order. */
export type DeterministicSimOptions = Omit<SimOptions, "nats" | "secure" | "lateJoin" | "restartOrchestratorAt" | "onCompleted" | "threads"> & {
  /** Worker effects each miner performs per virtual tick (default 4). */
  readonly capacity?: number;
};

/** The virtual clock's epoch: `at` = EPOCH + tick × tickMs (+1 ms per event within a tick). */
const EPOCH = 1_700_000_000_000;

/** Bytes from the seed: sha256(label ‖ counter) blocks, so every key and nonce is a function of the seed. */
const seeded = (label: string): Rng => {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 32) out.set(createHash("sha256").update(`${label}|${(counter += 1)}`).digest().subarray(0, Math.min(32, n - i)), i);
    return out;
  };
};

/** Runs the swarm under the virtual clock and the seeded scheduler; same options, same log bytes. */
export const runDeterministicSim = async (o: DeterministicSimOptions): Promise<SimResult> => {
  await cryptoReady();
  const run = o.run ?? `det-${o.seed}`;
  const keyOf = (uri: string): ActorKey => {
    const hotkey = loadHotkey(uri);
    return { hotkey, session: sessionKey(seeded(`swarmline-det|${run}|${o.seed}|session|${uri}`)(32)) };
  };
  const orch = keyOf("//Alice");
  const val = keyOf("//Validator");
  const uris = Array.from({ length: o.miners }, (_, i) => `//Miner${i}`);
  const miners = uris.map(keyOf);
  const addresses = miners.map((k) => k.hotkey.address);
  const keys = new Map([orch, val, ...miners].map((k) => [k.hotkey.address, k]));
  const tickMs = o.tickMs ?? 100;
  let tick = 0;
  let clock = EPOCH;
  const log = signedLog({ run, keyOf: (a) => keys.get(a), rng: seeded(`swarmline-det|${run}|${o.seed}|nonce`), clock: () => (clock = Math.max(clock + 1, EPOCH + tick * tickMs)) });
  const blobs = memoryBlobStore();
  const config = await buildRunConfig({ run, orchestrator: orch.hotkey.address, settings: o, blobs });
  const model = readModel(config);
  const stats = new RunStats(model);
  const seal: typeof log.seal = (f) => {
    if (f.type === "ClockTicked") tick = f.payload.tick;
    const sealed = log.seal(f);
    stats.observe(sealed);
    return sealed;
  };
  const corpus = sotuCorpus();
  // One intra-op thread: ORT then reduces in one fixed order, so equal inputs give equal floats.
  const pool = await KernelPool.create({ workers: o.workers ?? 1, threadsPerWorker: 1 });
  const kernels = new StageKernels(pool, model.gpt, run);
  const problems: string[] = [];
  const adversaries = Object.fromEntries((o.adversaries ?? []).map((a) => [addresses[minerIndex(a.miner, uris, addresses, "--adversary")] as string, a.kind]));
  const compute = kernelCompute({ model, kernels, corpus, blobs, adversaries, report: (m) => void problems.push(m) });
  try {
    const kills = new Map((o.kill ?? []).map((k) => [minerIndex(k.miner, uris, addresses), k]));
    const simMiners: SimMiner[] = addresses.map((id, i) => {
      const k = kills.get(i);
      const killWhen = k === undefined ? undefined : "step" in k ? (v: OrchestratorState) => v.counters.completed >= k.step : (v: OrchestratorState) => Object.values(v.merges).some((g) => g.sent[id] !== undefined);
      return { id, capacity: o.capacity ?? 4, ...(killWhen === undefined ? {} : { killWhen }), ...((o.dropout ?? 0) > 0 ? { rejoinAfter: o.rejoinTicks ?? 30 } : {}) };
    });
    // Validation of the composed model: one live miner per stage (lowest index), as the real-time sim does.
    const vb = valBatches(corpus, model, o.evalBatches ?? 8);
    const curve: [number, number][] = [];
    const composed = async (): Promise<Record<string, Float32Array> | undefined> => {
      const out: Record<string, Float32Array> = {};
      for (let s = 0; s < model.gpt.stages; s++) {
        const m = addresses.find((a) => compute.stageOf(a) === s);
        const p = m === undefined ? undefined : await compute.params(m);
        if (p === undefined) return undefined;
        Object.assign(out, p);
      }
      return out;
    };
    const evaluate = async (tokens: number): Promise<void> => {
      const p = await composed();
      if (p !== undefined) curve.push([tokens, await validationBpb(kernels, p, vb)]);
    };
    const every = o.evalEvery ?? 50;
    let nextEval = every;
    let shown = -1;
    const started = performance.now();
    const settings = o.validator === false ? undefined : { ...defaultScoring(o.microbatches, addresses, orch.hotkey.address), ...(o.validator ?? {}) };
    let checks = 0;
    const r = await simulateAsync({
      config: { ...config, params: config.stages.map((s) => s.params) },
      stages: config.stages,
      orchestrator: orch.hotkey.address,
      miners: simMiners,
      maxTicks: 200 * o.microbatches + 2000,
      ...((o.dropout ?? 0) > 0 ? { dropout: o.dropout } : {}),
      adversaries,
      compute,
      priority: effectPriority,
      seal,
      ...(settings === undefined ? {} : {
        validator: { id: val.hotkey.address, settings, check: (e) => reexecute({ model, kernels, corpus, blobs, data: compute.data }, e, `det${(checks += 1)}`) },
      }),
      afterTick: async (_, v) => {
        const c = v.counters;
        if (c.completed >= nextEval && c.completed < o.microbatches) {
          nextEval += every;
          await evaluate(c.tokens);
        }
        if (c.completed === shown) return;
        shown = c.completed;
        const secs = (performance.now() - started) / 1000;
        o.onProgress?.({
          completed: c.completed, total: o.microbatches, tokens: c.tokens, tokensPerSecond: secs > 0 ? c.tokens / secs : 0, loss: stats.lastLoss(),
          valBpb: curve[curve.length - 1]?.[1], minersPerStage: v.stages.map((_s, s) => Object.values(v.miners).filter((m) => m.status === "active" && m.stage === s).length),
          merges: c.mergesDone, reissued: c.reissued,
        });
      },
    });
    const secs = (performance.now() - started) / 1000;
    const c = r.state.counters;
    await evaluate(c.tokens);
    o.logLines?.(log.lines());
    const schedule = checkInvariants(r.log);
    for (const p of problems) process.stderr.write(`sim: ${p}\n`);
    return {
      ...runFigures({ run, counters: c, secs, curve, stats, microbatches: o.microbatches, events: log.envelopes().length }),
      violations: [...schedule.violations, ...(r.state.done ? [] : [`the run did not complete in ${r.ticks} ticks`])],
      scores: settings === undefined ? {} : summarizeScores(r.log, val.hotkey.address),
      adversaries: Object.keys(adversaries).sort((a, b) => addresses.indexOf(a) - addresses.indexOf(b)),
      ...(settings === undefined ? {} : { validator: val.hotkey.address }),
    };
  } finally {
    await compute.close().catch(() => undefined);
    await kernels.release().catch(() => undefined);
    await pool.close().catch(() => undefined);
  }
};

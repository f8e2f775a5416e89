// A miner's numerics: one stage's flat weights, AdamW state and accumulated gradients, the forward
// activations kept per lease until its backward, and the merge arithmetic (partitions, reductions,
// adopting results). Kernels run on the process's KernelPool through StageKernels, which miners of
// the same stage share (one set of ORT sessions per stage model).
import type { WireDtype } from "../../kernels/codec/format.js";
import { decode, encode } from "../../kernels/codec/wire.js";
import { batch, type BatchShape } from "../../kernels/data/batches.js";
import type { Corpus } from "../../kernels/data/corpus.js";
import { boundaryShape, boundaryWireDims, type GptConfig } from "../../kernels/model/config.js";
import { poolRun, type LocalRun } from "../../kernels/model/local-run.js";
import { type ParamSource, ResidentStage } from "../../kernels/model/resident.js";
import { StageRunner, wholeLoss } from "../../kernels/model/runner.js";
import { buildStage, buildWhole, savedBytes, type StageModels, type WholeModels } from "../../kernels/model/stage.js";
import type { KernelPool, OptimizerSpec, ParamSetSpec } from "../../kernels/runtime/pool.js";
import type { Tensor } from "../../kernels/runtime/tensor.js";
import { type OuterBasis, partitionBounds, reduceResult, resultParams, unpackOuter } from "../../machines/protocol/index.js";
import type { ReduceTask } from "../../machines/worker/index.js";
import { blobRef, type BlobStore, f32View, findF32, getF32 } from "./blob-store.js";
import { type StageLayout, stageLayout, swarmLr, type SwarmModel } from "./model.js";

/** Saved activations a non-final stage keeps per lease in flight before it recomputes them instead. */
export const KEEP_ACTIVATIONS_BYTES = 64 * 1024 * 1024;

/**
 * How a miner's stage gets its activations back for the backward. The last stage recomputes them
 * (its backward graph is then the whole fused step, one run). Others keep them in the worker between
 * forward and backward (stage 0 of the default model: 38 vs 45 ms per forward+backward here) unless
 * that is more than KEEP_ACTIVATIONS_BYTES per lease.
 */
export const minerStageModels = (gpt: GptConfig, stage: number): StageModels => {
  if (stage < gpt.stages - 1) {
    const keep = buildStage(gpt, stage, { activations: "keep" });
    if (savedBytes(keep) <= KEEP_ACTIVATIONS_BYTES) return keep;
  }
  return buildStage(gpt, stage, { activations: "recompute" });
};

/** The stage models of one run in one process, built once and run on the shared pool. */
export class StageKernels {
  private readonly runners = new Map<number, StageRunner>();
  private readonly residents = new Map<number, ResidentStage>();
  private readonly runs: LocalRun[] = [];
  private whole: { models: WholeModels; run: LocalRun } | undefined;

  constructor(
    readonly pool: KernelPool,
    readonly gpt: GptConfig,
    private readonly prefix: string,
  ) {}

  /** The runner of `stage` (models built and loaded on first use). */
  runner(stage: number): StageRunner {
    let r = this.runners.get(stage);
    if (r === undefined) {
      const run = poolRun(this.pool, `${this.prefix}:s${stage}`);
      this.runs.push(run);
      r = new StageRunner(buildStage(this.gpt, stage), run.run);
      this.runners.set(stage, r);
    }
    return r;
  }

  /**
   * The stage's models with each forward's saved activations, weights and input kept in the pool
   * worker until its backward (only boundary tensors and gradients cross threads).
   */
  resident(stage: number): ResidentStage {
    let r = this.residents.get(stage);
    if (r === undefined) {
      r = new ResidentStage(this.pool, minerStageModels(this.gpt, stage), `${this.prefix}:r${stage}`);
      this.residents.set(stage, r);
    }
    return r;
  }

  /** Loss of the whole model (stages composed, bottlenecks included) on one batch. */
  async wholeLoss(params: Readonly<Record<string, Float32Array>>, ids: Tensor, targets: Tensor): Promise<number> {
    if (this.whole === undefined) {
      const run = poolRun(this.pool, `${this.prefix}:whole`);
      this.runs.push(run);
      this.whole = { models: buildWhole(this.gpt), run };
    }
    return wholeLoss(this.whole.models, this.whole.run.run, params, ids, targets);
  }

  async release(): Promise<void> {
    for (const r of this.runs) await r.release().catch(() => undefined);
    for (const r of this.residents.values()) await r.release().catch(() => undefined);
    this.runs.length = 0;
    this.residents.clear();
    this.runners.clear();
    this.whole = undefined;
  }
}

/** Ids and targets of dataset batch `b`: a pure function of (data seed, b). */
export const datasetBatch = (corpus: Corpus, model: SwarmModel, b: number): { ids: Tensor; targets: Tensor } => {
  const shape: BatchShape = { batchSize: model.gpt.batch, seq: model.gpt.seq };
  const x = batch(corpus.train, model.optim.dataSeed, b, shape);
  return { ids: { dims: x.dims, data: x.inputs }, targets: { dims: x.dims, data: x.targets } };
};

/** Encoded boundary tensor and its content ref. */
export interface Wire {
  readonly ref: string;
  readonly bytes: Uint8Array;
}

/**
 * Encodes a boundary tensor [N, width] under `boundaryWireDims` ([B, T·width], the same bytes), so
 * int8 scales are per sequence rather than per b-wide token (≈168x instead of ≈102x at b = 3).
 */
const toWire = (gpt: GptConfig, t: Tensor, quant: WireDtype): Wire => {
  if (!(t.data instanceof Float32Array)) throw new TypeError("boundary tensors are float32");
  const bytes = encode({ dims: boundaryWireDims(gpt), data: t.data }, quant);
  return { ref: blobRef(bytes), bytes };
};

/** Decodes a boundary tensor sent by `toWire` (malformed or mis-shaped bytes throw CodecError). */
const fromWire = (gpt: GptConfig, bytes: Uint8Array): Tensor => ({ dims: boundaryShape(gpt), data: decode(bytes, { expectDims: boundaryWireDims(gpt) }).data });

let minerComputes = 0;

/** Microbatches a deferred step may accumulate before it is taken anyway (bounds staleness when a miner is never drained). */
export const MAX_DEFERRED = 4;

/** Merge snapshots a miner keeps at most (one merge per stage is open at a time; older ones were abandoned). */
const MAX_OPEN_MERGES = 2;

/**
 * One miner's stage state. Its weights, summed gradients and AdamW moments live in a parameter set
 * in the pool worker that runs its stage (KernelPool.setParams), so only boundary tensors cross
 * threads per microbatch; this side keeps the bookkeeping (leases in flight, microbatches since
 * the last step, merge snapshots) and fetches the weights only to merge or evaluate them.
 */
export class MinerCompute {
  readonly layout: StageLayout;
  private readonly setSpec: ParamSetSpec;
  /** The AdamW this miner steps with (created in the worker on its first step). */
  private readonly optSpec: OptimizerSpec;
  private optSteps = 0;
  /**
   * Leases whose forward is kept in the pool worker until their backward: the input, the saved
   * activations, and the weights the forward ran with (PipeDream's weight stashing: local steps may
   * land between a lease's forward and its backward, and a backward through other weights than the
   * activations came from is inconsistent). The worker holds them (ResidentStage), not this thread.
   */
  private readonly kept = new Set<string>();
  /** Leases whose forward is running, and those of them closed meanwhile (their stash is dropped on return). */
  private readonly starting = new Set<string>();
  private readonly cancelled = new Set<string>();
  private readonly resident: ResidentStage;
  /** Names this miner's parameter set and stashes among those of other miners sharing the process's pool. */
  private readonly tag = `mc${(minerComputes += 1)}`;
  private readonly source: ParamSource;
  private accumulated = 0;
  private loaded = false;
  /** The weights sent to each open merge (its base when the merge overlaps training). */
  private readonly sent = new Map<string, Float32Array>();

  constructor(
    private readonly kernels: StageKernels,
    private readonly model: SwarmModel,
    private readonly corpus: Corpus,
    readonly stage: number,
  ) {
    this.layout = stageLayout(model.gpt, stage);
    this.setSpec = { tensors: this.layout.specs.map((p) => ({ name: p.name, dims: p.shape })) };
    const o = model.optim;
    this.optSpec = {
      sizes: this.layout.specs.map((p) => p.shape.reduce((a, b) => a * b, 1)),
      config: { lr: o.lr, weightDecay: o.weightDecay, clipNorm: o.clipNorm },
      decay: this.layout.specs.map((p) => p.shape.length >= 2),
    };
    this.resident = kernels.resident(stage);
    this.source = { resident: this.tag };
  }

  get last(): boolean {
    return this.stage === this.model.gpt.stages - 1;
  }

  /** A copy of the weights as of the work queued before this call; undefined before the first load. */
  async weights(): Promise<Float32Array | undefined> {
    return this.loaded ? this.kernels.pool.getParams(this.tag) : undefined;
  }

  /** Replaces the weights (a joiner's load, an adopted merge); the optimizer moments stay. */
  async setWeights(w: Float32Array): Promise<void> {
    if (w.length !== this.layout.size) throw new RangeError(`stage ${this.stage} weights have ${w.length} values, expected ${this.layout.size}`);
    await this.resident.ready();
    await this.kernels.pool.setParams(this.tag, this.setSpec, w, { colocate: this.resident.colocation });
    this.loaded = true;
  }

  /** Leases with activations still held. */
  held(): number {
    return this.kept.size;
  }

  private input(b: number, wire: Uint8Array | null): Tensor {
    if (this.stage === 0) return datasetBatch(this.corpus, this.model, b).ids;
    if (wire === null) throw new Error(`stage ${this.stage} needs its input activations`);
    return fromWire(this.model.gpt, wire);
  }

  private stash(lease: string): string {
    return `${this.tag}:${lease}`;
  }

  /** Forward of a non-final stage; keeps what backward needs (in the worker). */
  async forward(lease: string, b: number, wire: Uint8Array | null): Promise<Wire> {
    const input = this.input(b, wire);
    // The stash copies the weights this forward runs with (this queue runs one job at a time).
    this.starting.add(lease);
    let y: Tensor;
    try {
      y = await this.resident.forward(this.stash(lease), this.source, input);
    } finally {
      this.starting.delete(lease);
    }
    if (this.cancelled.delete(lease)) this.resident.drop(this.stash(lease)).catch(() => undefined);
    else this.kept.add(lease);
    return toWire(this.model.gpt, y, this.model.quant);
  }

  /** Last stage: forward with the targets, the loss, and backward at once (gradients summed in the worker). */
  async lastStage(b: number, wire: Uint8Array | null): Promise<{ loss: number; tokens: number; grad: Wire | null }> {
    const input = this.input(b, wire);
    const { targets } = datasetBatch(this.corpus, this.model, b);
    const bw = await this.resident.step(this.source, input, targets, { accumulate: this.tag });
    this.accumulated += 1;
    return {
      loss: bw.loss,
      tokens: this.model.gpt.batch * this.model.gpt.seq,
      grad: bw.gradInput === undefined ? null : toWire(this.model.gpt, bw.gradInput, this.model.quant),
    };
  }

  /** Backward of a non-final stage from the downstream gradient; frees the lease's activations. */
  async backward(lease: string, gradWire: Uint8Array): Promise<Wire | null> {
    if (!this.kept.has(lease)) throw new Error(`no activations kept for lease ${lease}`);
    const bw = await this.resident.backward(this.stash(lease), { gradOutput: fromWire(this.model.gpt, gradWire), accumulate: this.tag });
    this.kept.delete(lease);
    this.accumulated += 1;
    return bw.gradInput === undefined ? null : toWire(this.model.gpt, bw.gradInput, this.model.quant);
  }

  /** Drops a closed lease's activations (frees its stash in the worker). */
  drop(lease: string): void {
    if (this.starting.has(lease)) this.cancelled.add(lease);
    if (!this.kept.delete(lease)) return;
    this.resident.drop(this.stash(lease)).catch(() => undefined);
  }

  /**
   * One AdamW step over the mean of the accumulated gradients, at the learning rate of global
   * step `globalStep` (localStepLr: warmed up over this miner's own steps when the model says so);
   * the accumulator is cleared. Returns the microbatches stepped over: 0 when nothing was
   * accumulated or the step is deferred (optim.deferWhileInFlight, at most MAX_DEFERRED).
   */
  async step(globalStep: number): Promise<number> {
    const n = this.accumulated;
    if (n === 0) return 0;
    // Deferred while a lease of ours awaits its backward: that backward then runs through the
    // current weights (no stale gradient lands on newer weights); overlapping leases accumulate.
    if (this.model.optim.deferWhileInFlight === true && this.kept.size + this.starting.size > 0 && n < MAX_DEFERRED) return 0;
    const lr = localStepLr(this.model, this.optSteps, globalStep);
    this.accumulated = 0;
    this.optSteps += 1;
    await this.kernels.pool.optimize(this.tag, { microbatches: n, lr, create: this.optSpec });
    return n;
  }

  /** This miner's AdamW state (step count, moments), or undefined before its first step. */
  saveOptimizer(): Promise<Uint8Array | undefined> {
    return this.loaded ? this.kernels.pool.saveOptimizer(this.tag) : Promise.resolve(undefined);
  }

  /**
   * Continues from a stored AdamW state (a joiner taking over the stage's moments) instead of a
   * fresh optimizer; its step count counts as this miner's own (no second local warmup).
   */
  async restoreOptimizer(bytes: Uint8Array): Promise<void> {
    this.optSteps = await this.kernels.pool.restoreOptimizer(this.tag, this.optSpec, bytes);
  }

  /** Forgets this miner's weights, gradients and optimizer in the pool worker (the miner is gone). */
  release(): Promise<void> {
    return this.kernels.pool.forgetParams(this.tag);
  }

  /**
   * A copy of the weights as of merge `merge`'s start, kept as its base until it is applied
   * (overlapped merges): a participant sends it (putPartitions, off the compute queue), any other
   * miner of the stage keeps it to carry its progress during the merge over.
   */
  async snapshot(merge: string): Promise<Float32Array> {
    const snap = await this.kernels.pool.getParams(this.tag);
    this.sent.set(merge, snap);
    while (this.sent.size > MAX_OPEN_MERGES) this.sent.delete(this.sent.keys().next().value as string);
    return snap;
  }

  /**
   * Adopts merge `merge`'s accepted partitions (`got`: each one's parameters from fetchResults, or
   * undefined when skipped: this miner's values stay). With `overlap`, a miner that sent to the
   * merge keeps its progress since: result + (weights now − weights sent) (adoptPartition).
   * Returns the weights its WeightsLoaded names: its new weights, or when overlapped the merge's
   * consensus (what a joiner starts from).
   */
  async adopt(merge: string, got: readonly (Float32Array | undefined)[], overlap: boolean): Promise<Float32Array | undefined> {
    const base = overlap ? this.sent.get(merge) : undefined;
    this.sent.delete(merge);
    const parts: { start: number; values: Float32Array }[] = [];
    partitionBounds(this.layout.size, got.length).forEach((q, i) => {
      const x = got[i];
      if (x !== undefined && x.length === q.end - q.start) parts.push({ start: q.start, values: x });
    });
    // Applied in the worker, in order with this miner's runs and steps (no read-modify-write here).
    const applied = this.kernels.pool.blendParams(this.tag, parts, base);
    // Overlapped, the sent snapshot with the results written in is the merge's consensus: the same
    // bytes for every sender whose partitions were all accepted, so the stage stores it once.
    const consensus = base;
    for (const p of parts) consensus?.set(p.values, p.start);
    await applied;
    return consensus ?? this.weights();
  }
}

/** Stores a weight snapshot cut into `count` partitions; their refs in order. `snap` must not change meanwhile. */
export const putPartitions = (blobs: BlobStore, snap: Float32Array, count: number): Promise<string[]> =>
  Promise.all(partitionBounds(snap.length, count).map((q) => blobs.put(f32View(snap.subarray(q.start, q.end)), { fresh: true })));

/**
 * The parameters of each accepted partition of a merge of a `size`-value stage (by content hash;
 * under an outer rule the parameter half of the result); undefined for skipped partitions and
 * results of the wrong size.
 */
export const fetchResults = async (blobs: BlobStore, size: number, results: readonly (string | null)[], outer: boolean): Promise<(Float32Array | undefined)[]> => {
  const parts = partitionBounds(size, results.length);
  return Promise.all(results.map(async (h, i) => {
    const q = parts[i];
    if (h === null || q === undefined) return undefined;
    return resultParams(await getF32(blobs, h), q.end - q.start, outer);
  }));
};

/**
 * Learning rate of a miner's step: the run's warmup + cosine schedule at global step `global`,
 * except that with `optim.localWarmup` the warmup also counts the miner's own optimizer steps
 * (`local`, 0-based): min(ramp(local), schedule(global)) until `local` reaches the warmup. A miner
 * sharing its stage with K-1 others takes ~1/K of the global steps, so a global warmup would be
 * K times shorter for its AdamW; a joiner's fresh AdamW warms up again. With one miner per stage
 * (local = global) this is the trainer's schedule exactly.
 */
export const localStepLr = (model: SwarmModel, local: number, global: number): number => {
  const g = swarmLr(model, global);
  return model.optim.localWarmup === true && local < model.optim.warmup ? Math.min(swarmLr(model, local), g) : g;
};

/**
 * A reducer's work: the sample-weighted mean of one partition over the sealed contributors, in
 * miner-id order (weightedAverage), or under an outer rule (DiLoCo) the outer Nesterov step from
 * the partition's previous merge result (reduceResult); stored, its ref is the result hash both
 * reducers publish.
 */
export const reducePartition = async (blobs: BlobStore, task: ReduceTask): Promise<string> => {
  const data = await Promise.all(task.contributors.map(async (c) => ({ miner: c.miner, samples: Math.max(1, c.samples), data: (await findF32(blobs, c.ref)) ?? new Float32Array(0) })));
  return blobs.put(f32View(reduceResult(data, await outerBasis(blobs, task))));
};

/** What an outer step starts from: the previous result's parameters and momentum, or the initial weights' slice. */
const outerBasis = async (blobs: BlobStore, task: ReduceTask): Promise<OuterBasis | undefined> => {
  const t = task.outer;
  if (t === undefined) return undefined;
  const rule = { lr: t.lr, momentum: t.momentum };
  if (t.previous !== null) {
    const prev = unpackOuter(await getF32(blobs, t.previous), t.end - t.start);
    return { rule, anchor: prev.params, momentum: prev.momentum };
  }
  return { rule, anchor: (await getF32(blobs, t.initial)).slice(t.start, t.end), momentum: null };
};

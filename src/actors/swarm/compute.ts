// A miner's numerics: one stage's flat weights, AdamW state and accumulated gradients, the forward
// activations kept per lease until its backward, and the merge arithmetic on its weights
// (snapshots, adopting results). Its kernels are the stage's StageKernels (stage-kernels.ts); the
// merge's blob I/O is merge-io.ts.
import type { Corpus } from "../../kernels/data/corpus.js";
import { type ParamSource, ResidentStage } from "../../kernels/model/resident.js";
import type { OptimizerSpec, ParamSetSpec } from "../../kernels/runtime/pool.js";
import type { Tensor } from "../../kernels/runtime/tensor.js";
import { partitionBounds } from "../../machines/protocol/index.js";
import { adoptsMerges, type AdversaryKind, tamperActivations, tamperGradients, trains } from "./adversary.js";
import { type StageLayout, stageLayout, type SwarmModel } from "./model.js";
import { datasetBatch, fromWire, type StageKernels, toWire, type Wire } from "./stage-kernels.js";

let minerComputes = 0;

/**
 * Weights versions a miner keeps (in its worker) after its runs named them, to open when a
 * validator spot-checks that work. A check can name any lease of a scoring window, so this bounds
 * a window to ~KEPT_VERSIONS optimizer steps of one miner (one step per microbatch it serves: a
 * stage served by one miner steps on every microbatch). Each is a copy of the stage's weights:
 * up to 96 × 1.7 MB for the default model's largest stage.
 */
export const KEPT_VERSIONS = 96;

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
  /** Work still reading a merge's snapshot (its partitions being stored): the blend waits for it before taking the snapshot over. */
  private readonly reading = new Map<string, Promise<unknown>>();

  constructor(
    private readonly kernels: StageKernels,
    private readonly model: SwarmModel,
    private readonly corpus: Corpus,
    readonly stage: number,
    /** What this miner does instead of honest work, if it is an adversary (sim only). */
    private readonly adversary?: AdversaryKind,
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
    await this.kernels.pool.setParams(this.tag, this.setSpec, w, { colocate: this.resident.colocation, keep: KEPT_VERSIONS });
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

  /**
   * Forward of a non-final stage; keeps what backward needs (in the worker). `weights` names the
   * version (content hash) of the weights it ran with, which the worker keeps for a spot check.
   */
  async forward(lease: string, b: number, wire: Uint8Array | null): Promise<Wire & { readonly weights: string | null }> {
    const input = this.input(b, wire);
    // The stash copies the weights this forward runs with (this queue runs one job at a time).
    this.starting.add(lease);
    let y: Tensor;
    let version: string | null;
    try {
      ({ y, version } = await this.resident.forwardVersioned(this.stash(lease), this.source, input));
    } finally {
      this.starting.delete(lease);
    }
    if (this.cancelled.delete(lease)) this.resident.drop(this.stash(lease)).catch(() => undefined);
    else this.kept.add(lease);
    const sent = tamperActivations(this.adversary, y, this.stage === 0 ? null : input, lease);
    return { ...toWire(this.model.gpt, sent, this.model.quant), weights: version };
  }

  /** Last stage: forward with the targets, the loss, and backward at once (gradients summed in the worker). */
  async lastStage(b: number, wire: Uint8Array | null): Promise<{ loss: number; tokens: number; grad: Wire | null; weights: string | null }> {
    const input = this.input(b, wire);
    const { targets } = datasetBatch(this.corpus, this.model, b);
    const bw = await this.resident.step(this.source, input, targets, trains(this.adversary) ? { accumulate: this.tag } : {});
    if (trains(this.adversary)) this.accumulated += 1;
    const gradInput = tamperGradients(this.adversary, bw.gradInput);
    return {
      loss: bw.loss,
      tokens: this.model.gpt.batch * this.model.gpt.seq,
      grad: gradInput === undefined ? null : toWire(this.model.gpt, gradInput, this.model.quant),
      weights: bw.version,
    };
  }

  /** Backward of a non-final stage from the downstream gradient; frees the lease's activations. */
  async backward(lease: string, gradWire: Uint8Array): Promise<Wire | null> {
    if (!this.kept.has(lease)) throw new Error(`no activations kept for lease ${lease}`);
    const bw = await this.resident.backward(this.stash(lease), { gradOutput: fromWire(this.model.gpt, gradWire), ...(trains(this.adversary) ? { accumulate: this.tag } : {}) });
    this.kept.delete(lease);
    if (trains(this.adversary)) this.accumulated += 1;
    const g = tamperGradients(this.adversary, bw.gradInput);
    return g === undefined ? null : toWire(this.model.gpt, g, this.model.quant);
  }

  /** Drops a closed lease's activations (frees its stash in the worker). */
  drop(lease: string): void {
    if (this.starting.has(lease)) this.cancelled.add(lease);
    if (!this.kept.delete(lease)) return;
    this.resident.drop(this.stash(lease)).catch(() => undefined);
  }

  /**
   * One AdamW step over the mean of the gradients of `microbatches` backward passes at learning
   * rate `lr`, both as the worker machine decided and recorded them (OptimizerStepped v2); the
   * parameter set refuses a count other than what it summed. The accumulator is cleared.
   */
  async step(microbatches: number, lr: number): Promise<void> {
    if (microbatches === 0 || !trains(this.adversary)) return;
    this.accumulated = 0;
    this.optSteps += 1;
    await this.kernels.pool.optimize(this.tag, { microbatches, lr, create: this.optSpec });
  }

  /** A kept weights version (one a forward named), to open for a spot check; undefined once no longer kept. */
  opened(version: string): Promise<Float32Array | undefined> {
    return this.loaded ? this.kernels.pool.openParams(this.tag, version) : Promise.resolve(undefined);
  }

  /** AdamW steps this miner's optimizer has taken (a restored state's included). */
  get optimizerSteps(): number {
    return this.optSteps;
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

  /** Runs `read` over merge `merge`'s snapshot; the merge is not adopted (its snapshot not taken over) before it settles. */
  async readSnapshot<A>(merge: string, read: (snap: Float32Array) => Promise<A>): Promise<A> {
    const done = this.snapshot(merge).then(read);
    this.reading.set(merge, done);
    try {
      return await done;
    } finally {
      if (this.reading.get(merge) === done) this.reading.delete(merge);
    }
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
    const reading = this.reading.get(merge);
    if (reading !== undefined) await reading.catch(() => undefined);
    if (!adoptsMerges(this.adversary)) return this.weights();
    const parts: { start: number; values: Float32Array }[] = [];
    partitionBounds(this.layout.size, got.length).forEach((q, i) => {
      const x = got[i];
      if (x !== undefined && x.length === q.end - q.start) parts.push({ start: q.start, values: x });
    });
    // Applied in the worker, in order with this miner's runs and steps (no read-modify-write here).
    if (base === undefined) {
      await this.kernels.pool.blendParams(this.tag, parts);
      return this.weights();
    }
    // Overlapped, the sent snapshot with the results written in is the merge's consensus: the same
    // bytes for every sender whose partitions were all accepted, so the stage stores it once. The
    // worker writes it into the snapshot it was sent (moved there and back, not copied).
    return this.kernels.pool.blendParams(this.tag, parts, base);
  }
}

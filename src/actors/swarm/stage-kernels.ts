// The kernels of one run in one process and the data they read: each stage's ORT models (built
// once, shared by the miners of that stage on the process's KernelPool), dataset batches as a pure
// function of the batch index, and the boundary tensors' wire encoding.
import type { WireDtype } from "../../kernels/codec/format.js";
import { decode, encode } from "../../kernels/codec/wire.js";
import { batch, type BatchShape } from "../../kernels/data/batches.js";
import type { Corpus } from "../../kernels/data/corpus.js";
import { boundaryShape, boundaryWireDims, type GptConfig } from "../../kernels/model/config.js";
import { poolRun, type LocalRun } from "../../kernels/model/local-run.js";
import { ResidentStage } from "../../kernels/model/resident.js";
import { StageRunner, wholeLoss } from "../../kernels/model/runner.js";
import { buildStage, buildWhole, savedBytes, type StageModels, type WholeModels } from "../../kernels/model/stage.js";
import type { KernelPool } from "../../kernels/runtime/pool.js";
import type { Tensor } from "../../kernels/runtime/tensor.js";
import { blobRef } from "./blob-store.js";
import { type SwarmModel } from "./model.js";

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
export const toWire = (gpt: GptConfig, t: Tensor, quant: WireDtype): Wire => {
  if (!(t.data instanceof Float32Array)) throw new TypeError("boundary tensors are float32");
  const bytes = encode({ dims: boundaryWireDims(gpt), data: t.data }, quant);
  return { ref: blobRef(bytes), bytes };
};

/** Decodes a boundary tensor sent by `toWire` (malformed or mis-shaped bytes throw CodecError). */
export const fromWire = (gpt: GptConfig, bytes: Uint8Array): Tensor => ({ dims: boundaryShape(gpt), data: decode(bytes, { expectDims: boundaryWireDims(gpt) }).data });

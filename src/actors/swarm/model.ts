// The swarm run's model: the GPT config and the optimizer settings every miner applies, as stored
// (opaque to the protocol) in SwarmRunStarted.model; the flattened stage parameter vectors that
// weights blobs and merge partitions are cut from; and the learning-rate schedule of a local step.
import { Schema } from "effect";
import type { SwarmRunConfig } from "../../events/swarm/index.js";
import type { WireDtype } from "../../kernels/codec/format.js";
import { type GptConfig, validateConfig } from "../../kernels/model/config.js";
import { initParams, paramCount, type ParamSpec, stageParamSpecs } from "../../kernels/model/params.js";
import { lrAt, type TrainOptions } from "../../kernels/train/options.js";

/**
 * Optimizer and data settings of a swarm run: TrainOptions' numeric fields (dataSeed: dataset
 * batch b holds batch(train, dataSeed, b); steps: the learning-rate schedule's length in global
 * optimizer steps), plus the swarm's own switches.
 */
export interface SwarmOptim extends Pick<TrainOptions, "lr" | "warmup" | "minLrRatio" | "weightDecay" | "clipNorm" | "dataSeed" | "steps"> {
  /**
   * Warm up over each miner's own optimizer steps too (compute.ts localStepLr). Absent in runs
   * recorded before it existed: the warmup then counts global steps only.
   */
  readonly localWarmup?: boolean;
  /**
   * A miner defers its optimizer step while one of its leases awaits a backward (compute.ts
   * MinerCompute.step), so no gradient is applied to weights newer than those it was computed on.
   * Absent in older runs: every backward steps at once (weight-stashed, possibly stale).
   */
  readonly deferWhileInFlight?: boolean;
}

/** What SwarmRunStarted.model holds for a swarm of GPT stages. */
export interface SwarmModel {
  readonly gpt: GptConfig;
  readonly optim: SwarmOptim;
  /** Wire type of boundary activations and gradients. */
  readonly quant: WireDtype;
}

const Num = Schema.Number;
const SwarmModelSchema = Schema.Struct({
  gpt: Schema.Struct({
    vocab: Num, seq: Num, dModel: Num, nHead: Num, nLayer: Num, stages: Num, bottleneck: Schema.NullOr(Num), batch: Num, eps: Num, seed: Num,
  }),
  optim: Schema.Struct({
    lr: Num, warmup: Num, minLrRatio: Num, weightDecay: Num, clipNorm: Num, dataSeed: Num, steps: Num, localWarmup: Schema.optionalKey(Schema.Boolean),
    deferWhileInFlight: Schema.optionalKey(Schema.Boolean),
  }),
  quant: Schema.Literals(["fp32", "fp16", "int8"]),
});

/** Reads and validates a run's model (throws a RangeError naming what is wrong). */
export const readModel = (config: SwarmRunConfig): SwarmModel => {
  const r = Schema.decodeUnknownResult(SwarmModelSchema)(config.model);
  if (r._tag === "Failure") throw new RangeError(`run ${config.run}: model is not a swarm GPT model: ${String(r.failure)}`);
  const m = r.success as SwarmModel;
  validateConfig(m.gpt);
  if (m.gpt.stages !== config.stages.length) throw new RangeError(`run ${config.run}: ${config.stages.length} stages for a ${m.gpt.stages}-stage model`);
  return m;
};

/** TrainOptions equivalent to a swarm model (for the shared learning-rate schedule). */
export const trainOptionsOf = (m: SwarmModel): TrainOptions => ({
  model: m.gpt, steps: m.optim.steps, lr: m.optim.lr, warmup: m.optim.warmup, minLrRatio: m.optim.minLrRatio, weightDecay: m.optim.weightDecay,
  clipNorm: m.optim.clipNorm, dataSeed: m.optim.dataSeed, evalEvery: 1, evalBatches: 1, quant: m.quant, threads: 1,
});

/** Learning rate of global optimizer step `t` (0-based): the trainer's warmup + cosine schedule. */
export const swarmLr = (m: SwarmModel, t: number): number => lrAt(trainOptionsOf(m), Math.max(0, t));

/** A stage's parameter layout: specs in model order and each one's offset in the flat vector. */
export interface StageLayout {
  readonly stage: number;
  readonly specs: readonly ParamSpec[];
  readonly offsets: readonly number[];
  readonly size: number;
}

export const stageLayout = (gpt: GptConfig, stage: number): StageLayout => {
  const specs = stageParamSpecs(gpt, stage);
  const offsets: number[] = [];
  let at = 0;
  for (const p of specs) {
    offsets.push(at);
    at += paramCount([p]);
  }
  return { stage, specs, offsets, size: at };
};

/** Parameters as views into one flat vector (writing a view writes the vector). */
export const viewsOf = (layout: StageLayout, flat: Float32Array): Record<string, Float32Array> => {
  if (flat.length !== layout.size) throw new RangeError(`stage ${layout.stage} has ${layout.size} parameters, got ${flat.length}`);
  return Object.fromEntries(layout.specs.map((p, i) => [p.name, flat.subarray(layout.offsets[i] as number, (layout.offsets[i] as number) + paramCount([p]))]));
};

/** The stage's seeded initial weights, flattened (every host computes the same bytes). */
export const initialStageWeights = (gpt: GptConfig, stage: number): Float32Array => {
  const layout = stageLayout(gpt, stage);
  const params = initParams(gpt, layout.specs);
  const flat = new Float32Array(layout.size);
  layout.specs.forEach((p, i) => flat.set(params[p.name] as Float32Array, layout.offsets[i]));
  return flat;
};

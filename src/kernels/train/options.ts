// What a training run is: the model config, the optimizer and schedule, the data seed, the
// boundary wire type, evaluation cadence and threads. Pure data plus the learning-rate schedule.
import type { WireDtype } from "../codec/format.js";
import { DEFAULT_CONFIG, type GptConfig } from "../model/config.js";

/** A training run. Everything that decides a number is here, so a checkpoint can check it. */
export type TrainOptions = {
  readonly model: GptConfig;
  readonly steps: number;
  /** Peak AdamW learning rate (after warmup; cosine decay to lr·minLrRatio at the last step). */
  readonly lr: number;
  readonly warmup: number;
  readonly minLrRatio: number;
  readonly weightDecay: number;
  readonly clipNorm: number;
  /** Seed of the training batches (batch id = step). */
  readonly dataSeed: number;
  /** Evaluate validation bpb every N steps (and at the end). */
  readonly evalEvery: number;
  /** Fixed validation batches per evaluation. */
  readonly evalBatches: number;
  /** Wire type of stage-boundary tensors (only used when model.stages > 1). */
  readonly quant: WireDtype;
  /** ORT intra-op threads. */
  readonly threads: number;
};

/** The small default: the model helper's default GPT, 300 steps, a few minutes on 2 cores. */
export const DEFAULT_TRAIN: TrainOptions = {
  model: DEFAULT_CONFIG,
  steps: 300,
  lr: 3e-3,
  warmup: 20,
  minLrRatio: 0.1,
  weightDecay: 0.01,
  clipNorm: 1,
  dataSeed: 1,
  evalEvery: 50,
  evalBatches: 8,
  quant: "fp32",
  threads: 2,
};

/** Learning rate of step `t` (0-based): linear warmup, then cosine to lr·minLrRatio. */
export const lrAt = (o: TrainOptions, t: number): number => {
  if (t < o.warmup) return (o.lr * (t + 1)) / o.warmup;
  const span = Math.max(1, o.steps - o.warmup);
  const progress = Math.min(1, (t - o.warmup) / span);
  return o.lr * (o.minLrRatio + (1 - o.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
};

/** Tokens one step trains on (batch × seq). */
export const tokensPerStep = (o: TrainOptions): number => o.model.batch * o.model.seq;

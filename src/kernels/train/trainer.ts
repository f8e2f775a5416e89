// The monolithic trainer loop: batches from the data module, loss and gradients from an Engine,
// AdamW with clipping, periodic validation in bits per byte, checkpoint and resume. Resuming
// continues the same trajectory: batches are a pure function of (seed, step), the schedule of
// the step, and the optimizer state is restored byte for byte.
import { batch, validationBatches, type Batch } from "../data/batches.js";
import type { Corpus } from "../data/corpus.js";
import { bitsPerByte, unigramBpbOfTargets, unigramModel } from "../data/metrics.js";
import { modelParamSpecs, initParams, type ParamSpec } from "../model/params.js";
import type { RunModel } from "../model/runner.js";
import { AdamW } from "../optim/adamw.js";
import { CheckpointError, type Checkpoint } from "./checkpoint.js";
import { pipelineEngine, wholeEngine, type Engine, type StepBatch } from "./engine.js";
import { lrAt, tokensPerStep, type TrainOptions } from "./options.js";

/** Progress after a step (and, on evaluation steps, the validation bpb). */
export type StepEvent = {
  readonly step: number;
  readonly steps: number;
  readonly tokens: number;
  readonly loss: number;
  readonly lr: number;
  readonly valBpb: number | undefined;
  readonly tokensPerSecond: number;
  /** fp32 bytes ÷ wire bytes at the stage boundaries this step (undefined for one stage). */
  readonly compression: number | undefined;
};

/** The outcome, in the shape `--json` writes. */
export type TrainResult = {
  readonly steps: number;
  readonly tokens: number;
  readonly tokensPerSecond: number;
  readonly valBpb: number;
  readonly unigramBpb: number;
  readonly lossCurve: [number, number][];
};

/** Hooks and resumption for `train`. */
export type TrainHooks = {
  readonly onStep?: (e: StepEvent) => void;
  /** Continue from this checkpoint (its options must equal the run's). */
  readonly resume?: Checkpoint;
  /** Stop after this many steps of the run (to take a checkpoint mid-run); default all. */
  readonly stopAfter?: number;
  /** Wall clock for tokens/s (injected so the loop stays testable). */
  readonly now?: () => number;
  /**
   * Dataset batch id of step `t` (default: t). A swarm assigns batch ids by a seeded permutation
   * (protocol batchFor); passing the same map lets this trainer replay a swarm's data order.
   */
  readonly batchId?: (step: number) => number;
};

/** The trained state at the end (or at `stopAfter`). */
export type TrainState = { readonly result: TrainResult; readonly params: Record<string, Float32Array>; readonly checkpoint: Checkpoint };

const asStepBatch = (b: Batch): StepBatch => ({ ids: { dims: b.dims, data: b.inputs }, targets: { dims: b.dims, data: b.targets } });

/** Builds the engine of a run: fused whole model for one stage, else the codec'd pipeline. */
export const engineFor = (o: TrainOptions, run: RunModel): Engine =>
  o.model.stages === 1 ? wholeEngine(o.model, run) : pipelineEngine(o.model, run, o.quant);

/** Parameter specs of a run and which of them take weight decay (matrices, not gains/biases). */
export const specsOf = (o: TrainOptions): { specs: ParamSpec[]; decay: boolean[] } => {
  const specs = modelParamSpecs(o.model);
  return { specs, decay: specs.map((s) => s.shape.length >= 2) };
};

/** Mean validation loss (nats) over fixed batches, summed in batch order. */
export const validationLoss = async (engine: Engine, params: Record<string, Float32Array>, val: readonly StepBatch[]): Promise<number> => {
  let s = 0;
  for (const b of val) s += await engine.loss(params, b);
  return s / val.length;
};

/** Runs (or resumes) training on `corpus` through `run`. */
export const train = async (o: TrainOptions, corpus: Corpus, run: RunModel, hooks: TrainHooks = {}): Promise<TrainState> => {
  const now = hooks.now ?? (() => performance.now());
  const engine = engineFor(o, run);
  const { specs, decay } = specsOf(o);
  const params = initParams(o.model, specs);
  const opt = new AdamW(specs.map((s) => s.shape.reduce((a, b) => a * b, 1)), { lr: o.lr, weightDecay: o.weightDecay, clipNorm: o.clipNorm }, decay);
  const shape = { batchSize: o.model.batch, seq: o.model.seq };
  const valRaw = validationBatches(corpus.validation, o.evalBatches, shape);
  const val = valRaw.map(asStepBatch);
  const unigramBpb = unigramBpbOfTargets(unigramModel(corpus.train), valRaw.map((b) => b.targets));
  let step = 0;
  let tokens = 0;
  const lossCurve: [number, number][] = [];
  if (hooks.resume !== undefined) {
    const r = hooks.resume;
    if (JSON.stringify(r.options) !== JSON.stringify(o)) throw new CheckpointError({ message: "checkpoint was taken by a run with different options" });
    for (const p of r.params) {
      const dst = params[p.name];
      if (dst === undefined || dst.length !== p.data.length) throw new CheckpointError({ message: `checkpoint parameter ${p.name} does not fit the model` });
      dst.set(p.data);
    }
    opt.restore(r.optimizer);
    step = r.step;
    tokens = r.tokens;
    lossCurve.push(...r.lossCurve.map(([a, b]) => [a, b] as [number, number]));
  }
  const end = Math.min(o.steps, hooks.stopAfter === undefined ? o.steps : step + hooks.stopAfter);
  const started = now();
  const tokens0 = tokens;
  let valBpb = lossCurve.length > 0 ? (lossCurve[lossCurve.length - 1]?.[1] ?? NaN) : NaN;
  const order = specs.map((s) => s.name);
  for (; step < end; ) {
    const b = asStepBatch(batch(corpus.train, o.dataSeed, hooks.batchId?.(step) ?? step, shape));
    const { loss, grads, traffic } = await engine.step(params, b);
    const lr = lrAt(o, step);
    opt.step(order.map((n) => params[n] as Float32Array), order.map((n) => grads[n] as Float32Array), lr);
    step++;
    tokens += tokensPerStep(o);
    let evaluated: number | undefined;
    if (step % o.evalEvery === 0 || step === o.steps) {
      evaluated = bitsPerByte(await validationLoss(engine, params, val));
      valBpb = evaluated;
      lossCurve.push([tokens, evaluated]);
    }
    const elapsed = (now() - started) / 1000;
    hooks.onStep?.({
      step, steps: o.steps, tokens, loss, lr, valBpb: evaluated,
      tokensPerSecond: elapsed > 0 ? (tokens - tokens0) / elapsed : 0,
      compression: traffic.wireBytes > 0 ? traffic.fp32Bytes / traffic.wireBytes : undefined,
    });
  }
  if (Number.isNaN(valBpb)) {
    valBpb = bitsPerByte(await validationLoss(engine, params, val));
    lossCurve.push([tokens, valBpb]);
  }
  const elapsed = (now() - started) / 1000;
  const checkpoint: Checkpoint = {
    options: o, step, tokens, lossCurve: lossCurve.map(([a, b]) => [a, b] as const),
    params: order.map((name) => ({ name, data: (params[name] as Float32Array).slice() })),
    optimizer: opt.save(),
  };
  return {
    result: { steps: step, tokens, tokensPerSecond: elapsed > 0 ? (tokens - tokens0) / elapsed : 0, valBpb, unigramBpb, lossCurve },
    params,
    checkpoint,
  };
};

// Drives one stage's models through an injected `run` (in-process session, worker pool, or a
// test double): forward gives the boundary output (or loss) plus saved activations; backward
// gives the input gradient and parameter gradients. No ORT import here.
import type { EmittedModel, TensorSpec } from "../autodiff/emit.js";
import { numel } from "../autodiff/shape.js";
import type { Tensor } from "../runtime/tensor.js";
import type { Params } from "./params.js";
import { gradName, type StageModels, type WholeModels } from "./stage.js";

/**
 * Runs an emitted model on feeds and returns all of its outputs by name. `preallocated` outputs
 * may be written in place (ORT-allocated large outputs are slow); callers must use the returned
 * tensors, since a worker pool hands back transferred buffers instead.
 */
export type RunModel = (model: EmittedModel, feeds: Readonly<Record<string, Tensor>>, preallocated?: Readonly<Record<string, Tensor>>) => Promise<Record<string, Tensor>>;

/** Optional gradient buffers (by parameter name) for backward to write into. */
export type GradBuffers = Readonly<Record<string, Float32Array>>;

const gradTargets = (specs: StageModels["params"], into: GradBuffers | undefined): Record<string, Tensor> | undefined => {
  if (into === undefined) return undefined;
  const pre: Record<string, Tensor> = {};
  for (const p of specs) {
    const buf = into[p.name];
    if (buf !== undefined) pre[gradName(p.name)] = checkTensor({ name: p.name, shape: p.shape, dtype: "float32" }, { dims: p.shape, data: buf });
  }
  return pre;
};

/** Forward result: `output` is the boundary activation, or the scalar loss on the last stage. */
export type ForwardResult = { readonly output: Tensor; readonly saved: Readonly<Record<string, Tensor>> };

/** Backward result; `gradInput` is absent on stage 0 (token ids have no gradient). */
export type BackwardResult = { readonly gradInput: Tensor | undefined; readonly gradParams: Record<string, Float32Array> };

const pick = (out: Record<string, Tensor>, name: string): Tensor => {
  const t = out[name];
  if (t === undefined) throw new RangeError(`model returned no "${name}"`);
  return t;
};

const checkTensor = (spec: TensorSpec, t: Tensor): Tensor => {
  if (t.dims.length !== spec.shape.length || t.dims.some((d, i) => d !== spec.shape[i]) || t.data.length !== numel(spec.shape)) {
    throw new RangeError(`"${spec.name}" must have shape [${spec.shape.join(",")}], got [${t.dims.join(",")}]`);
  }
  return t;
};

/** Parameter feeds (checked against the specs). */
export const paramFeeds = (specs: StageModels["params"], params: Params): Record<string, Tensor> => {
  const feeds: Record<string, Tensor> = {};
  for (const p of specs) {
    const v = params[p.name];
    if (v === undefined) throw new RangeError(`missing parameter "${p.name}"`);
    feeds[p.name] = checkTensor({ name: p.name, shape: p.shape, dtype: "float32" }, { dims: p.shape, data: v });
  }
  return feeds;
};

const gradsOf = (specs: StageModels["params"], out: Record<string, Tensor>): Record<string, Float32Array> => {
  const g: Record<string, Float32Array> = {};
  for (const p of specs) {
    const t = pick(out, gradName(p.name));
    if (!(t.data instanceof Float32Array)) throw new TypeError(`gradient of "${p.name}" is not float32`);
    g[p.name] = t.data;
  }
  return g;
};

/** One stage's forward and backward over an injected runtime. */
export class StageRunner {
  constructor(
    readonly models: StageModels,
    private readonly run: RunModel,
  ) {}

  private feeds(params: Params, input: Tensor, targets: Tensor | undefined): Record<string, Tensor> {
    const m = this.models;
    const feeds = paramFeeds(m.params, params);
    feeds[m.input.name] = checkTensor(m.input, input);
    if (m.targets !== undefined) {
      if (targets === undefined) throw new RangeError(`stage ${m.stage} is the last stage: targets are required`);
      feeds[m.targets.name] = checkTensor(m.targets, targets);
    }
    return feeds;
  }

  /** Runs the forward model; `saved` is empty when activations are recomputed. */
  async forward(params: Params, input: Tensor, targets?: Tensor): Promise<ForwardResult> {
    const out = await this.run(this.models.forward, this.feeds(params, input, targets));
    const saved: Record<string, Tensor> = {};
    for (const s of this.models.saved) saved[s.name] = pick(out, s.name);
    return { output: pick(out, this.models.output.name), saved };
  }

  /**
   * Runs the backward model. `gradOutput` (the gradient of this stage's output) is required
   * except on the last stage, which starts from its loss; `saved` comes from `forward`.
   */
  async backward(
    params: Params,
    input: Tensor,
    opts: { saved?: Readonly<Record<string, Tensor>>; gradOutput?: Tensor; targets?: Tensor; into?: GradBuffers },
  ): Promise<BackwardResult> {
    const m = this.models;
    const feeds = this.feeds(params, input, opts.targets);
    if (m.targets === undefined) {
      if (opts.gradOutput === undefined) throw new RangeError(`stage ${m.stage} backward needs gradOutput`);
      feeds["grad_y"] = checkTensor({ ...m.output, name: "grad_y" }, opts.gradOutput);
    }
    for (const s of m.saved) {
      const v = opts.saved?.[s.name];
      if (v === undefined) throw new RangeError(`stage ${m.stage} keeps activations: saved tensor "${s.name}" is missing`);
      feeds[s.name] = checkTensor(s, v);
    }
    const out = await this.run(m.backward, feeds, gradTargets(m.params, opts.into));
    return { gradInput: m.stage === 0 ? undefined : pick(out, "grad_x"), gradParams: gradsOf(m.params, out) };
  }
}

/** Loss and gradients of the whole model in one fused run (the monolithic training step). */
export const wholeStep = async (
  w: WholeModels,
  run: RunModel,
  params: Params,
  ids: Tensor,
  targets: Tensor,
  into?: GradBuffers,
): Promise<{ loss: number; gradParams: Record<string, Float32Array> }> => {
  const feeds = paramFeeds(w.params, params);
  feeds["ids"] = ids;
  feeds["targets"] = targets;
  const out = await run(w.step, feeds, gradTargets(w.params, into));
  return { loss: Number(pick(out, "loss").data[0]), gradParams: gradsOf(w.params, out) };
};

/** Loss of the whole model on one batch, forward only (validation). */
export const wholeLoss = async (w: WholeModels, run: RunModel, params: Params, ids: Tensor, targets: Tensor): Promise<number> => {
  const feeds = paramFeeds(w.params, params);
  feeds["ids"] = ids;
  feeds["targets"] = targets;
  return Number(pick(await run(w.loss, feeds), "loss").data[0]);
};

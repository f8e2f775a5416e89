// Builds the ONNX models of one pipeline stage (forward, backward with kept or recomputed
// activations) and of the whole model (a fused loss+gradients step for the monolithic trainer).
// Names: input "ids" (stage 0) or "x"; "targets" on the last stage; output "y" or "loss";
// upstream gradient "grad_y"; gradients "grad_x" and "grad.<param>".
import { savedTensors } from "../autodiff/cut.js";
import { emitModel, symName, type EmittedModel, type TensorSpec } from "../autodiff/emit.js";
import type { Sym } from "../autodiff/graph.js";
import type { FloatType } from "../autodiff/shape.js";
import { trace, type Tracer } from "../autodiff/trace.js";
import { boundaryShape, validateConfig, type GptConfig } from "./config.js";
import { modelForward, stageForward } from "./gpt.js";
import { modelParamSpecs, stageParamSpecs, type ParamSpec } from "./params.js";

/** Keep forward activations for backward (memory) or recompute them in backward (compute). */
export type Activations = "keep" | "recompute";

/**
 * Build options: activation strategy and float type (fp64 is for gradient checks); with "keep",
 * the ops a backward re-runs rather than keep (default: savedTensors' RECOMPUTED).
 */
export type StageOptions = { readonly activations?: Activations; readonly float?: FloatType; readonly recompute?: ReadonlySet<string> };

/** The models of one stage and the names a runner feeds and reads. */
export type StageModels = {
  readonly config: GptConfig;
  readonly stage: number;
  readonly activations: Activations;
  readonly params: readonly ParamSpec[];
  /** "ids" int32 [B,T] on stage 0, else "x" [N, b or d]. */
  readonly input: TensorSpec;
  /** "targets" int32 [B,T] on the last stage. */
  readonly targets: TensorSpec | undefined;
  /** "y" [N, b or d], or the scalar "loss" on the last stage. */
  readonly output: TensorSpec;
  /** Saved activations: outputs of `forward`, inputs of `backward` (empty when recomputing). */
  readonly saved: readonly TensorSpec[];
  /** Inputs: params, input, targets? Outputs: output, saved... */
  readonly forward: EmittedModel;
  /**
   * Inputs: params, input, targets?, grad_y (non-last), saved... Outputs: grad_x (non-first),
   * grad.<param>..., and on a last stage that recomputes its activations also "loss" (so one run is
   * the whole fused step: no forward run, nothing kept between runs).
   */
  readonly backward: EmittedModel;
};

/** Gradient output name of a parameter. */
export const gradName = (param: string): string => `grad.${param}`;

type Traced = { t: Tracer; params: Sym[]; pmap: Record<string, Sym>; ids: Sym };

const traceInputs = (c: GptConfig, specs: readonly ParamSpec[], float: FloatType, first: boolean): Traced => {
  const t = trace(float);
  const params = specs.map((p) => t.g.input(p.name, p.shape));
  const pmap = Object.fromEntries(specs.map((p, i) => [p.name, params[i] as Sym]));
  const ids = first ? t.g.input("ids", [c.batch, c.seq], "int32") : t.g.input("x", boundaryShape(c));
  return { t, params, pmap, ids };
};

const spec = (name: string, s: Sym): TensorSpec => ({ name, shape: s.shape, dtype: s.dtype });

/** Builds stage s of config c. */
export const buildStage = (c: GptConfig, s: number, opts: StageOptions = {}): StageModels => {
  validateConfig(c);
  if (!Number.isInteger(s) || s < 0 || s >= c.stages) throw new RangeError(`stage ${s} is not in [0, ${c.stages})`);
  const activations = opts.activations ?? "keep";
  const first = s === 0;
  const last = s === c.stages - 1;
  const specs = stageParamSpecs(c, s);
  const { t, params, pmap, ids: input } = traceInputs(c, specs, opts.float ?? "float32", first);
  const targets = last ? t.g.input("targets", [c.batch, c.seq], "int32") : undefined;
  const y = stageForward(t, c, s, pmap, input, targets);
  const seed = last ? t.g.constant([], Float64Array.of(1)) : t.g.input("grad_y", y.shape);
  const grads = t.gradients(y, seed, first ? params : [input, ...params]);
  const gradOuts: Record<string, Sym> = {};
  if (!first) gradOuts["grad_x"] = grads[0] as Sym;
  specs.forEach((p, i) => (gradOuts[gradName(p.name)] = grads[first ? i : i + 1] as Sym));
  const fwdFeeds = [...params, input, ...(targets === undefined ? [] : [targets])];
  const saved = activations === "keep" ? savedTensors(t.g, Object.values(gradOuts), opts.recompute) : [];
  const outName = last ? "loss" : "y";
  const fwdOuts: Record<string, Sym> = { [outName]: y };
  for (const v of saved) fwdOuts[symName(v)] = v;
  const bwdFeeds = [...fwdFeeds, ...(last ? [] : [seed]), ...saved];
  const bwdOuts = last && activations === "recompute" ? { ...gradOuts, loss: y } : gradOuts;
  return {
    config: c,
    stage: s,
    activations,
    params: specs,
    input: spec(symName(input), input),
    targets: targets === undefined ? undefined : spec("targets", targets),
    output: spec(outName, y),
    saved: saved.map((v) => spec(symName(v), v)),
    forward: emitModel(t.g, fwdFeeds, fwdOuts, `stage${s}_forward`),
    backward: emitModel(t.g, bwdFeeds, bwdOuts, `stage${s}_backward`),
  };
};

/** The whole pipeline (all stages of c chained, bottlenecks included) as single models. */
export type WholeModels = {
  readonly config: GptConfig;
  readonly params: readonly ParamSpec[];
  /** Inputs: params, ids, targets. Output: loss. */
  readonly loss: EmittedModel;
  /** One fused training step. Inputs: params, ids, targets. Outputs: loss, grad.<param>... */
  readonly step: EmittedModel;
};

/** Builds the whole model of c; with stages = 1 this is the monolithic baseline. */
export const buildWhole = (c: GptConfig, float: FloatType = "float32"): WholeModels => {
  validateConfig(c);
  const specs = modelParamSpecs(c);
  const { t, params, pmap, ids } = traceInputs(c, specs, float, true);
  const targets = t.g.input("targets", [c.batch, c.seq], "int32");
  const loss = modelForward(t, c, pmap, ids, targets);
  const grads = t.gradients(loss, t.g.constant([], Float64Array.of(1)), params);
  const outs: Record<string, Sym> = { loss };
  specs.forEach((p, i) => (outs[gradName(p.name)] = grads[i] as Sym));
  const feeds = [...params, ids, targets];
  return { config: c, params: specs, loss: emitModel(t.g, feeds, { loss }, "whole_loss"), step: emitModel(t.g, feeds, outs, "whole_step") };
};

/** MatMul/Gemm FLOPs of one forward and one backward run of a stage (for GFLOP/s figures). */
export const stageFlops = (m: StageModels): { readonly forward: number; readonly backward: number } => ({ forward: m.forward.flops, backward: m.backward.flops });

/** Bytes of activations a stage holds between forward and backward per microbatch (0 when recomputing). */
export const savedBytes = (m: StageModels): number =>
  m.saved.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1) * (s.dtype === "float64" || s.dtype === "int64" ? 8 : 4), 0);

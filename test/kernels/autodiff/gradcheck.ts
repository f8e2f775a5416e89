// Test harness: traces an op in float64, runs value and vector-Jacobian product in ORT, and
// compares with the eager float64 reference and its central finite differences.
import * as ort from "onnxruntime-node";
import { eager, arr, type Arr } from "../../../src/kernels/autodiff/eager.js";
import { emitModel, type EmittedModel } from "../../../src/kernels/autodiff/emit.js";
import type { Sym } from "../../../src/kernels/autodiff/graph.js";
import type { Ops } from "../../../src/kernels/autodiff/ops.js";
import { numel, type FloatType, type Shape } from "../../../src/kernels/autodiff/shape.js";
import { trace } from "../../../src/kernels/autodiff/trace.js";
import { Rng } from "../../../src/kernels/model/rng.js";

/** An op input: a float tensor (differentiated) or int32 ids in [0, vocab). */
export type InputSpec = { readonly shape: Shape; readonly ints?: number };

/** A function written once against Ops, checked on both backends. */
export type OpFn = <T>(o: Ops<T>, xs: readonly T[]) => T;

type OrtFeed = Record<string, ort.Tensor>;

const toOrt = (a: Arr, float: FloatType): ort.Tensor =>
  a.data instanceof Int32Array ? new ort.Tensor("int32", a.data, [...a.shape]) : float === "float64" ? new ort.Tensor("float64", a.data, [...a.shape]) : new ort.Tensor("float32", Float32Array.from(a.data), [...a.shape]);

/** Runs an emitted model in ORT (1 thread) and returns outputs as float64 arrays. */
export const runOrt = async (m: EmittedModel, feeds: Record<string, Arr>, float: FloatType): Promise<Record<string, Float64Array>> => {
  const s = await ort.InferenceSession.create(m.bytes, { intraOpNumThreads: 1, graphOptimizationLevel: "all" });
  const f: OrtFeed = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = toOrt(v, float);
  const r = await s.run(f);
  await s.release();
  const out: Record<string, Float64Array> = {};
  for (const [k, v] of Object.entries(r)) out[k] = Float64Array.from(v.data as Float64Array | Float32Array, Number);
  return out;
};

/** Random inputs from a seed: floats ~ N(0,1), ids uniform. */
export const randomInputs = (specs: readonly InputSpec[], seed: number): Arr[] => {
  const rng = new Rng(seed);
  return specs.map((s) =>
    s.ints === undefined ? arr(s.shape, Float64Array.from({ length: numel(s.shape) }, () => rng.normal())) : arr(s.shape, Int32Array.from({ length: numel(s.shape) }, () => rng.int(s.ints ?? 1))),
  );
};

/**
 * max_i |a_i - n_i| / max(|n_i|, 1e-3·max_j |n_j|): elementwise relative error, floored at a
 * thousandth of the largest reference value so exact zeros do not divide by zero. Arrays of
 * different lengths are infinitely far apart: a missing output (read as `[]`) must fail a check,
 * not pass it with an error of 0.
 */
export const relErr = (a: ArrayLike<number>, n: ArrayLike<number>): number => {
  if (a.length !== n.length) return Infinity;
  let scale = 0;
  for (let i = 0; i < n.length; i++) scale = Math.max(scale, Math.abs(n[i] ?? 0));
  const floor = Math.max(1e-3 * scale, 1e-300);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] ?? 0) - (n[i] ?? 0)) / Math.max(Math.abs(n[i] ?? 0), floor));
  return worst;
};

/** Result of one check: forward agreement and gradient agreement, per float input. */
export type CheckResult = { readonly forwardErr: number; readonly gradErr: readonly number[]; readonly fp32GradErr: readonly number[] };

const traceVjp = (fn: OpFn, specs: readonly InputSpec[], float: FloatType): EmittedModel => {
  const t = trace(float);
  const xs = specs.map((s, i) => t.g.input(`x${i}`, s.shape, s.ints === undefined ? float : "int32"));
  const y = fn<Sym>(t, xs);
  const seed = t.g.input("gy", y.shape);
  const floats = xs.filter((_, i) => specs[i]?.ints === undefined);
  const grads = t.gradients(y, seed, floats);
  const outs: Record<string, Sym> = { y };
  floats.forEach((x, i) => (outs[`g${i}`] = grads[i] ?? x));
  return emitModel(t.g, [...xs, seed], outs);
};

/**
 * Checks an op: ORT fp64 forward vs eager reference (forwardErr); ORT fp64 analytic VJP with a
 * random upstream gradient r vs central differences (h = 1e-5) of <r, fn(x)> on the eager
 * reference (gradErr); and ORT fp32 gradients vs the same reference (fp32GradErr).
 */
export const checkOp = async (fn: OpFn, specs: readonly InputSpec[], seed = 1): Promise<CheckResult> => {
  const xs = randomInputs(specs, seed);
  const yRef = fn(eager, xs);
  const [r] = randomInputs([{ shape: yRef.shape }], seed + 1000);
  if (r === undefined) throw new Error("unreachable");
  const feeds: Record<string, Arr> = { gy: r };
  xs.forEach((x, i) => (feeds[`x${i}`] = x));
  const out64 = await runOrt(traceVjp(fn, specs, "float64"), feeds, "float64");
  const out32 = await runOrt(traceVjp(fn, specs, "float32"), feeds, "float32");
  const objective = (ins: readonly Arr[]): number => {
    const y = fn(eager, ins).data;
    let s = 0;
    for (let i = 0; i < y.length; i++) s += (y[i] ?? 0) * (r.data[i] ?? 0);
    return s;
  };
  const h = 1e-5;
  const gradErr: number[] = [];
  const fp32GradErr: number[] = [];
  let k = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (x === undefined || specs[i]?.ints !== undefined) continue;
    const num = new Float64Array(x.data.length);
    for (let j = 0; j < num.length; j++) {
      const plus = Float64Array.from(x.data);
      const minus = Float64Array.from(x.data);
      plus[j] = (plus[j] ?? 0) + h;
      minus[j] = (minus[j] ?? 0) - h;
      const at = (d: Float64Array) => xs.map((z, q) => (q === i ? arr(x.shape, d) : z));
      num[j] = (objective(at(plus)) - objective(at(minus))) / (2 * h);
    }
    gradErr.push(relErr(out64[`g${k}`] ?? [], num));
    fp32GradErr.push(relErr(out32[`g${k}`] ?? [], num));
    k++;
  }
  return { forwardErr: relErr(out64["y"] ?? [], yRef.data), gradErr, fp32GradErr };
};

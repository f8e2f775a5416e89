// AdamW (Loshchilov & Hutter 2019: decoupled weight decay, bias-corrected moments) with
// global-norm gradient clipping, over a list of float32 parameter arrays updated in place.
// Every reduction runs in one fixed order (parameter index, then element index, in float64),
// so two honest replicas produce the same bytes.
import { expectMagic, OptimStateError, StateReader, StateWriter } from "./state-bytes.js";

/** Hyperparameters; defaults follow common GPT practice. */
export type AdamWConfig = {
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** Decoupled decay: p <- p - lr·wd·p before the Adam update. */
  readonly weightDecay?: number;
  /** Clip the global L2 norm of all gradients to this (Infinity = off). */
  readonly clipNorm?: number;
};

/** What one step saw: the gradients' global norm before clipping and the factor applied. */
export type StepReport = { readonly gradNorm: number; readonly clipScale: number };

/** Global L2 norm of a list of arrays, summed in float64 in a fixed order. */
export const globalNorm = (xs: readonly Float32Array[]): number => {
  let s = 0;
  for (let k = 0; k < xs.length; k++) s = addSquares(s, xs[k] as Float32Array);
  return Math.sqrt(s);
};

/**
 * s + the sum of x's squares, in float64, in element order. The hot loops of this file are
 * functions of their own: V8 optimizes such a function whole after a few calls, while a loop nested
 * in a longer one runs on-stack-replaced code that, in a kernel worker, deoptimized on every call
 * (72-83 deoptimizations in a 80-microbatch sim, `node --trace-deopt`).
 */
const addSquares = (s: number, x: Float32Array): number => {
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    s += v * v;
  }
  return s;
};

/**
 * The update of one tensor, in place. PyTorch's arrangement of the bias corrections:
 * p -= (lr / bc1) · m / (√v / √bc2 + eps). Float64 arithmetic on float32 storage, the moments used
 * as stored (fround), in a fixed order: the same bytes on every engine. Not a loop inside `step`
 * (see addSquares).
 */
const adamUpdate = (p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, clipScale: number, shrink: number, beta1: number, beta2: number, stepSize: number, rootBc2: number, eps: number): void => {
  const a1 = 1 - beta1;
  const a2 = 1 - beta2;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = (g[i] as number) * clipScale;
    const mi = Math.fround(beta1 * (m[i] as number) + a1 * gi);
    const vi = Math.fround(beta2 * (v[i] as number) + a2 * gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] = (p[i] as number) * shrink - (stepSize * mi) / (Math.sqrt(vi) / rootBc2 + eps);
  }
};

/** AdamW over fixed parameter shapes. `decay[i] = false` exempts a parameter (biases, norms). */
export class AdamW {
  private t = 0;
  // beta^t kept as running products (Math.pow is not guaranteed bit-identical across engines).
  private b1t = 1;
  private b2t = 1;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly clipNorm: number;

  constructor(
    readonly sizes: readonly number[],
    config: AdamWConfig,
    private readonly decay: readonly boolean[] = sizes.map(() => true),
  ) {
    this.lr = config.lr;
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.95;
    this.eps = config.eps ?? 1e-8;
    this.weightDecay = config.weightDecay ?? 0;
    this.clipNorm = config.clipNorm ?? Infinity;
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /**
   * One update of `params` from `grads` (same order and sizes as the constructor's). `lr`
   * overrides the configured rate for this step (schedules). Grads are not modified.
   */
  step(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number = this.lr): StepReport {
    if (params.length !== this.sizes.length || grads.length !== this.sizes.length) throw new RangeError("AdamW.step: wrong number of tensors");
    this.sizes.forEach((n, i) => {
      if (params[i]?.length !== n || grads[i]?.length !== n) throw new RangeError(`AdamW.step: tensor ${i} has the wrong size`);
    });
    const gradNorm = globalNorm(grads);
    const clipScale = gradNorm > this.clipNorm ? this.clipNorm / (gradNorm + 1e-6) : 1;
    this.t++;
    this.b1t *= this.beta1;
    this.b2t *= this.beta2;
    const bc1 = 1 - this.b1t;
    const bc2 = 1 - this.b2t;
    const { beta1, beta2, eps } = this;
    const stepSize = lr / bc1;
    const rootBc2 = Math.sqrt(bc2);
    for (let k = 0; k < params.length; k++) {
      const shrink = this.decay[k] === false ? 1 : 1 - lr * this.weightDecay;
      adamUpdate(params[k] as Float32Array, grads[k] as Float32Array, this.m[k] as Float32Array, this.v[k] as Float32Array, clipScale, shrink, beta1, beta2, stepSize, rootBc2, eps);
    }
    return { gradNorm, clipScale };
  }

  /** Whether every moment is finite and every second moment non-negative (a restored state from an untrusted peer must be). */
  sane(): boolean {
    for (let k = 0; k < this.m.length; k++) {
      const m = this.m[k] as Float32Array;
      const v = this.v[k] as Float32Array;
      for (let i = 0; i < m.length; i++) if (!Number.isFinite(m[i]) || !((v[i] as number) >= 0) || !Number.isFinite(v[i])) return false;
    }
    return true;
  }

  /** Serializes step count, moment estimates and hyperparameters. */
  save(): Uint8Array {
    const w = new StateWriter().bytes(new TextEncoder().encode("ADMW")).u32(1);
    w.u32(this.t).f64(this.b1t).f64(this.b2t);
    w.f64(this.lr).f64(this.beta1).f64(this.beta2).f64(this.eps).f64(this.weightDecay).f64(this.clipNorm);
    w.u32(this.sizes.length);
    for (let k = 0; k < this.sizes.length; k++) w.f32s(this.m[k] as Float32Array).f32s(this.v[k] as Float32Array);
    return w.finish();
  }

  /** Restores state saved by `save()` into an optimizer of the same shapes; throws OptimStateError. */
  restore(bytes: Uint8Array): void {
    const r = new StateReader(bytes);
    expectMagic(r, "ADMW", 1);
    const t = r.u32();
    const b1t = r.f64();
    const b2t = r.f64();
    const hyper = [r.f64(), r.f64(), r.f64(), r.f64(), r.f64(), r.f64()];
    const mine = [this.lr, this.beta1, this.beta2, this.eps, this.weightDecay, this.clipNorm];
    if (hyper.some((h, i) => h !== mine[i])) throw new OptimStateError({ message: `hyperparameters differ: saved ${hyper.join(",")}, have ${mine.join(",")}` });
    const n = r.u32();
    if (n !== this.sizes.length) throw new OptimStateError({ message: `state for ${n} tensors, optimizer has ${this.sizes.length}` });
    const ms: Float32Array[] = [];
    const vs: Float32Array[] = [];
    for (let k = 0; k < n; k++) {
      ms.push(r.f32s(this.sizes[k]));
      vs.push(r.f32s(this.sizes[k]));
    }
    r.end();
    this.t = t;
    this.b1t = b1t;
    this.b2t = b2t;
    ms.forEach((m, k) => this.m[k]?.set(m));
    vs.forEach((v, k) => this.v[k]?.set(v));
  }
}

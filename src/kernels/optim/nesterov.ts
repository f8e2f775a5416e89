// The outer optimizer of DiLoCo (Douillard et al. 2023): after workers train locally and their
// parameters are merged, the pseudo-gradient Δ = old − merged drives a Nesterov momentum step on
// the old parameters. Fixed element order, float64 arithmetic, float32 storage: deterministic bytes.
import { expectMagic, OptimStateError, StateReader, StateWriter } from "./state-bytes.js";

/** Outer learning rate and momentum; DiLoCo uses 0.7 and 0.9. */
export type NesterovConfig = { readonly lr?: number; readonly momentum?: number };

/** Δ = old − merged, elementwise, as fresh arrays. */
export const pseudoGradient = (old: readonly Float32Array[], merged: readonly Float32Array[]): Float32Array[] =>
  old.map((o, k) => {
    const m = merged[k];
    if (m === undefined || m.length !== o.length) throw new RangeError(`pseudoGradient: tensor ${k} sizes differ`);
    const d = new Float32Array(o.length);
    for (let i = 0; i < o.length; i++) d[i] = (o[i] ?? 0) - (m[i] ?? 0);
    return d;
  });

/**
 * Nesterov momentum as in PyTorch SGD(nesterov=True): u <- μ·u + Δ; θ <- θ − lr·(Δ + μ·u).
 * With lr = 1 and μ = 0 this is plain averaging: θ becomes the merged parameters.
 */
export class OuterNesterov {
  private readonly u: Float32Array[];
  readonly lr: number;
  readonly momentum: number;
  private t = 0;

  constructor(readonly sizes: readonly number[], config: NesterovConfig = {}) {
    this.lr = config.lr ?? 0.7;
    this.momentum = config.momentum ?? 0.9;
    this.u = sizes.map((n) => new Float32Array(n));
  }

  /** Outer steps taken. */
  get steps(): number {
    return this.t;
  }

  /** Updates `params` (the pre-merge parameters) in place from the pseudo-gradients. */
  step(params: readonly Float32Array[], pseudoGrads: readonly Float32Array[]): void {
    if (params.length !== this.sizes.length || pseudoGrads.length !== this.sizes.length) throw new RangeError("OuterNesterov.step: wrong number of tensors");
    const mu = this.momentum;
    for (let k = 0; k < params.length; k++) {
      const p = params[k] as Float32Array;
      const d = pseudoGrads[k] as Float32Array;
      const u = this.u[k] as Float32Array;
      if (p.length !== this.sizes[k] || d.length !== this.sizes[k]) throw new RangeError(`OuterNesterov.step: tensor ${k} has the wrong size`);
      for (let i = 0; i < p.length; i++) {
        const di = d[i] ?? 0;
        u[i] = mu * (u[i] ?? 0) + di;
        p[i] = (p[i] ?? 0) - this.lr * (di + mu * (u[i] ?? 0));
      }
    }
    this.t++;
  }

  /** Serializes the momentum buffers and hyperparameters. */
  save(): Uint8Array {
    const w = new StateWriter().bytes(new TextEncoder().encode("NSTV")).u32(1).u32(this.t).f64(this.lr).f64(this.momentum).u32(this.sizes.length);
    for (const u of this.u) w.f32s(u);
    return w.finish();
  }

  /** Restores `save()` output into an optimizer of the same shapes; throws OptimStateError. */
  restore(bytes: Uint8Array): void {
    const r = new StateReader(bytes);
    expectMagic(r, "NSTV", 1);
    const t = r.u32();
    const lr = r.f64();
    const mu = r.f64();
    if (lr !== this.lr || mu !== this.momentum) throw new OptimStateError({ message: `hyperparameters differ: saved lr ${lr} μ ${mu}` });
    const n = r.u32();
    if (n !== this.sizes.length) throw new OptimStateError({ message: `state for ${n} tensors, optimizer has ${this.sizes.length}` });
    const us = this.sizes.map((s) => r.f32s(s));
    r.end();
    this.t = t;
    us.forEach((u, k) => this.u[k]?.set(u));
  }
}

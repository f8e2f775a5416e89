// Parameter sets kept in a kernel worker: a model's weights as one flat vector, the gradients its
// backward runs add up, and the AdamW that steps them. A miner whose weights live here sends only
// boundary tensors to its worker: no weights are cloned per forward, no gradients cross back per
// backward, and the optimizer step runs off the main thread.
import { AdamW, type StepReport } from "../optim/adamw.js";
import { KernelFailed } from "./errors.js";
import type { OptimizerSpec, ParamSetSpec } from "./protocol.js";
import type { Tensor } from "./tensor.js";

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** One set: named tensors viewing one flat vector, their summed gradients, their optimizer. */
export class ParamSet {
  readonly flat: Float32Array;
  private readonly grad: Float32Array;
  private readonly views = new Map<string, Tensor>();
  private readonly gradViews = new Map<string, Float32Array>();
  private readonly sizes: number[];
  private opt: AdamW | undefined;
  /** Backward runs summed into the gradients since the last step. */
  accumulated = 0;

  constructor(readonly spec: ParamSetSpec) {
    this.sizes = spec.tensors.map((t) => size(t.dims));
    const total = this.sizes.reduce((a, b) => a + b, 0);
    this.flat = new Float32Array(total);
    this.grad = new Float32Array(total);
    let at = 0;
    spec.tensors.forEach((t, i) => {
      const n = this.sizes[i] as number;
      this.views.set(t.name, { dims: t.dims, data: this.flat.subarray(at, at + n) });
      this.gradViews.set(t.name, this.grad.subarray(at, at + n));
      at += n;
    });
  }

  /** Replaces the weights (the moments and summed gradients stay). */
  load(data: Float32Array): void {
    if (data.length !== this.flat.length) throw new KernelFailed({ reason: "bad-tensor", message: `parameter set holds ${this.flat.length} values, got ${data.length}` });
    this.flat.set(data);
  }

  /**
   * Writes merged values into the weights: each part's `values` at flat offset `start`. With `base`
   * (the full weights as sent to the merge, which training overlapped) the set keeps what it learned
   * since: w = values + (w − base), in float64, rounded once (the protocol's adoptPartition).
   */
  blend(parts: readonly { readonly start: number; readonly values: Float32Array }[], base: Float32Array | undefined): void {
    const w = this.flat;
    if (base !== undefined && base.length !== w.length) throw new KernelFailed({ reason: "bad-tensor", message: `merge base holds ${base.length} values, the set ${w.length}` });
    for (const { start, values } of parts) {
      if (!(start >= 0 && start + values.length <= w.length)) throw new KernelFailed({ reason: "bad-tensor", message: `merged values [${start}, ${start + values.length}) fall outside the set's ${w.length}` });
      if (base === undefined) {
        w.set(values, start);
        continue;
      }
      for (let i = 0; i < values.length; i++) {
        const j = start + i;
        w[j] = (values[i] as number) + ((w[j] as number) - (base[j] as number));
      }
    }
  }

  /** The tensor of parameter `name` (a view of the live weights), or undefined. */
  tensor(name: string): Tensor | undefined {
    return this.views.get(name);
  }

  /** Adds a backward run's parameter gradients (`grads[param]`); every parameter must be there. */
  accumulate(grads: ReadonlyMap<string, Tensor>): void {
    for (const [name, dst] of this.gradViews) {
      const src = grads.get(name)?.data;
      if (!(src instanceof Float32Array) || src.length !== dst.length) throw new KernelFailed({ reason: "bad-tensor", message: `no float32 gradient of "${name}" to accumulate` });
      for (let i = 0; i < dst.length; i++) dst[i] = (dst[i] as number) + (src[i] as number);
    }
    this.accumulated += 1;
  }

  /** The optimizer's state (AdamW.save: step count, moments, hyperparameters), or undefined before its first step. */
  saveOptimizer(): Uint8Array | undefined {
    return this.opt?.save();
  }

  /** Replaces the optimizer with one restored from `bytes` (same shapes and hyperparameters as `create`); returns its step count. */
  restoreOptimizer(create: OptimizerSpec, bytes: Uint8Array): number {
    const opt = new AdamW(this.sizes, create.config, create.decay);
    try {
      opt.restore(bytes);
    } catch (e) {
      throw new KernelFailed({ reason: "bad-tensor", message: `optimizer state does not fit this parameter set: ${e instanceof Error ? e.message : String(e)}` });
    }
    if (!opt.sane()) throw new KernelFailed({ reason: "bad-tensor", message: "optimizer state holds non-finite or negative moments" });
    this.opt = opt;
    return opt.steps;
  }

  /**
   * One AdamW step over the mean of the `microbatches` summed gradients (the caller's count must be
   * this set's: a mismatch is a bookkeeping bug, refused), then the sums restart at zero.
   */
  step(create: OptimizerSpec | undefined, microbatches: number, lr: number): StepReport {
    if (microbatches !== this.accumulated) throw new KernelFailed({ reason: "bad-tensor", message: `step over ${microbatches} microbatches, but ${this.accumulated} were accumulated` });
    this.opt ??= create === undefined ? undefined : new AdamW(this.sizes, create.config, create.decay);
    if (this.opt === undefined) throw new KernelFailed({ reason: "unknown-model", message: "the parameter set has no optimizer yet: the first step must create it" });
    const g = this.grad;
    // The mean, rounded to float32 like every other gradient buffer.
    if (microbatches > 1) for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) / microbatches;
    const split = (flat: Float32Array): Float32Array[] => {
      let at = 0;
      return this.sizes.map((n) => flat.subarray(at, (at += n)));
    };
    const report = this.opt.step(split(this.flat), split(g), lr);
    g.fill(0);
    this.accumulated = 0;
    return report;
  }
}

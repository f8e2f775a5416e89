// Parameter sets kept in a kernel worker: a model's weights as one flat vector, the gradients its
// backward runs add up, and the AdamW that steps them. A miner whose weights live here sends only
// boundary tensors to its worker: no weights are cloned per forward, no gradients cross back per
// backward, and the optimizer step runs off the main thread. Each version of the weights is named by
// its content hash, and the last few versions that runs read are kept, so a miner can later open the
// exact weights a spot-checked run used.
import { createHash } from "node:crypto";
import { AdamW, type StepReport } from "../optim/adamw.js";
import { KernelFailed } from "./errors.js";
import type { OptimizerSpec, ParamSetSpec } from "./protocol.js";
import type { Tensor } from "./tensor.js";

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/**
 * The content hash of float32 weights: hex sha256 of their little-endian bytes, the same name the
 * blob store gives those bytes (actors/swarm/blob-store.ts blobRef), so a version is a blob ref.
 */
export const weightsVersion = (w: Float32Array): string => createHash("sha256").update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest("hex");

/** Bytes of one slab of kept-version buffers (at least one version each). */
const SLAB_BYTES = 64 * 1024 * 1024;

/** Versions a set keeps unless told otherwise: a few steps' worth, at one weight copy each. */
export const DEFAULT_KEEP = 16;

/** dst += src, element-wise (its own function so V8 optimizes the loop whole, not by on-stack replacement). */
const addInto = (dst: Float32Array, src: Float32Array): void => {
  for (let i = 0; i < dst.length; i++) dst[i] = (dst[i] as number) + (src[i] as number);
};

const checkKeep = (n: number): number => {
  if (!Number.isInteger(n) || n < 0) throw new KernelFailed({ reason: "bad-tensor", message: `keep must be an integer >= 0, got ${n}` });
  return n;
};

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
  /** The hash of the weights, computed on demand; undefined after a mutation (load, blend, step). */
  private hash: string | undefined;
  /** Versions runs read, oldest first (a Map keeps insertion order): hash -> a private copy of the weights. */
  private readonly kept = new Map<string, Float32Array>();
  private keepN: number;
  /**
   * Version buffers not holding a kept version: views into slabs of up to SLAB_BYTES, allocated as
   * versions are first kept and reused after. One allocation per slab, not per version: each new
   * ArrayBuffer grows the isolate's external memory, and a worker keeping a fresh copy per step ran
   * a full GC every few steps until its `keep` versions were all allocated.
   */
  private readonly free: Float32Array[] = [];
  /** Version buffers allocated so far (kept + free). */
  private slots = 0;

  /** `keep`: how many versions read by runs to keep for `opened` (default DEFAULT_KEEP; 0 keeps none). */
  constructor(readonly spec: ParamSetSpec, opts: { readonly keep?: number } = {}) {
    this.keepN = checkKeep(opts.keep ?? DEFAULT_KEEP);
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
    this.hash = undefined;
  }

  /**
   * The version of the current weights: their content hash (weightsVersion), computed on the first
   * call after a mutation and cached until the next one. The weights change only through load,
   * blend and step; a caller writing into `flat` or a tensor view directly would stale the cache.
   */
  version(): string {
    this.hash ??= weightsVersion(this.flat);
    return this.hash;
  }

  /**
   * The version a run is about to read, remembered with a copy of the weights so it can be opened
   * later. An already kept version is not copied again but becomes the newest, so the weights in use
   * are the last to go; beyond `keep` versions the oldest is dropped (its buffer holds the new copy).
   */
  keepVersion(): string {
    const v = this.version();
    const had = this.kept.get(v);
    if (had !== undefined) {
      this.kept.delete(v);
      this.kept.set(v, had);
      return v;
    }
    if (this.keepN === 0) return v;
    this.evictTo(this.keepN - 1);
    const copy = this.slot();
    copy.set(this.flat);
    this.kept.set(v, copy);
    return v;
  }

  /** Drops the oldest kept versions until at most `n` are kept; their buffers are reused. */
  private evictTo(n: number): void {
    for (const [old, w] of this.kept) {
      if (this.kept.size <= n) break;
      this.kept.delete(old);
      this.free.push(w);
    }
  }

  /** A buffer for one more kept version: a free one, or one of a new slab (sized to what `keep` still allows). */
  private slot(): Float32Array {
    const spare = this.free.pop();
    if (spare !== undefined) return spare;
    const n = this.flat.length;
    const count = Math.max(1, Math.min(this.keepN - this.slots, Math.floor(SLAB_BYTES / Math.max(1, n * 4))));
    const slab = new Float32Array(count * n);
    for (let i = 1; i < count; i++) this.free.push(slab.subarray(i * n, (i + 1) * n));
    this.slots += count;
    return slab.subarray(0, n);
  }

  /** A copy of the weights of a kept version, or undefined when it was never kept or is evicted. */
  opened(hash: string): Float32Array | undefined {
    return this.kept.get(hash)?.slice();
  }

  /** How many versions are kept at most (0: none). Lowering it drops the oldest at once. */
  get keep(): number {
    return this.keepN;
  }

  set keep(n: number) {
    this.keepN = checkKeep(n);
    this.evictTo(this.keepN);
  }

  /**
   * Writes merged values into the weights: each part's `values` at flat offset `start`. With `base`
   * (the full weights as sent to the merge, which training overlapped) the set keeps what it learned
   * since: w = values + (w − base), in float64, rounded once (the protocol's adoptPartition).
   */
  blend(parts: readonly { readonly start: number; readonly values: Float32Array }[], base: Float32Array | undefined): void {
    const w = this.flat;
    if (base !== undefined && base.length !== w.length) throw new KernelFailed({ reason: "bad-tensor", message: `merge base holds ${base.length} values, the set ${w.length}` });
    this.hash = undefined; // before any write: a part refused midway leaves the earlier parts written
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

  /**
   * `blend`, then writes the parts into `base` too: with an overlapped merge's sent snapshot as
   * `base`, that is the merge's consensus (the snapshot with the results written in), which the
   * caller gets back without a copy of its own (the pool moves `base` here and back).
   */
  blendToConsensus(parts: readonly { readonly start: number; readonly values: Float32Array }[], base: Float32Array): Float32Array {
    this.blend(parts, base);
    for (const { start, values } of parts) base.set(values, start);
    return base;
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
      addInto(dst, src);
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
    this.hash = undefined;
    const report = this.opt.step(split(this.flat), split(g), lr);
    g.fill(0);
    this.accumulated = 0;
    return report;
  }
}

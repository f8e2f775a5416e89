// Adversarial miners for `swarmline sim --adversary KIND@ID`: what each kind does instead of honest
// work, applied by MinerCompute and the miner host at one place each. They exist to show that the
// scorer, the spot checks and the merge cross-check catch them (README "Adversaries").
import type { Tensor } from "../../kernels/runtime/tensor.js";
import { xoshiro128 } from "../../machines/protocol/index.js";
import type { AdversaryKind } from "../../machines/sim/index.js";
import type { ReduceTask } from "../../machines/worker/index.js";

export type { AdversaryKind } from "../../machines/sim/index.js";
export { ADVERSARY_KINDS } from "../../machines/sim/index.js";

/** Gradients a "scaled" miner sends upstream are multiplied by this. */
export const SCALE = 8;

/** The forward output an adversary sends instead of `y` (a copy; `y` itself when honest). */
export const tamperActivations = (kind: AdversaryKind | undefined, y: Tensor, input: Tensor | null, lease: string): Tensor => {
  if (!(y.data instanceof Float32Array)) return y;
  if (kind === "noise") {
    // Random values of the true output's scale: the norm can pass a check, the direction cannot.
    let ss = 0;
    for (const x of y.data) ss += x * x;
    const rms = Math.sqrt(ss / Math.max(1, y.data.length));
    const r = xoshiro128(`noise|${lease}`);
    return { dims: y.dims, data: Float32Array.from(y.data, () => (r.float() * 2 - 1) * Math.sqrt(3) * rms) };
  }
  if (kind === "freerider") {
    // Passes its input on untouched (zeros where the input is not a boundary tensor: stage 0's token ids).
    const same = input !== null && input.data instanceof Float32Array && input.data.length === y.data.length;
    return { dims: y.dims, data: same ? Float32Array.from(input.data as Float32Array) : new Float32Array(y.data.length) };
  }
  return y;
};

/** The input-gradients an adversary sends upstream instead of `g`. */
export const tamperGradients = (kind: AdversaryKind | undefined, g: Tensor | undefined): Tensor | undefined => {
  if (g === undefined || !(g.data instanceof Float32Array)) return g;
  if (kind === "scaled") return { dims: g.dims, data: Float32Array.from(g.data, (x) => x * SCALE) };
  if (kind === "freerider") return { dims: g.dims, data: new Float32Array(g.data.length) };
  if (kind === "noise") {
    const r = xoshiro128(`noise-grad|${g.data.length}|${g.data[0] ?? 0}`);
    return { dims: g.dims, data: Float32Array.from(g.data, () => r.float() * 2 - 1) };
  }
  return g;
};

/** Whether the miner's optimizer steps (a stale miner keeps its weights; a freerider trains nothing). */
export const trains = (kind: AdversaryKind | undefined): boolean => kind !== "stale" && kind !== "freerider";

/** Whether the miner adopts merge results (a stale miner keeps its initial weights). */
export const adoptsMerges = (kind: AdversaryKind | undefined): boolean => kind !== "stale";

/**
 * The partition an adversarial reducer stores: a lazy reducer's is always wrong; a colluding
 * reducer's is wrong only when its accomplice (another colluder, by `isColluder`) reduces the same
 * partition, so the two agree and the cross-check alone cannot catch them.
 */
export const tamperReduction = (kind: AdversaryKind | undefined, me: string, task: ReduceTask, isColluder: (miner: string) => boolean, x: Float32Array): Float32Array => {
  const wrong = kind === "lazy-reducer" || (kind === "colluding" && task.reducers.some((r) => r !== me && isColluder(r)));
  if (!wrong || x.length === 0) return x;
  const out = x.slice();
  out[0] = (out[0] as number) + 1;
  return out;
};

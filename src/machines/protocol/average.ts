// The reducer's arithmetic: the sample-weighted mean of one partition over the merge contributors,
// in a fixed order (sorted by miner id) with float64 accumulation, so two honest reducers produce
// identical bytes and their result hashes can be compared (DESIGN "Merging"; hivemind averages
// in arrival order and so cannot compare reducers). With an outer optimizer (DiLoCo) the reducer
// also takes the outer Nesterov step on its partition, from the stage's previous merge result.
import { widenCodesInto } from "./bf16.js";
import { byCodeUnit } from "./rng.js";

/**
 * One contributor's copy of a partition, weighted by the samples it trained on since the last
 * merge: float32 values, or bfloat16 codes (a run sending bfloat16 snapshots), each the top half
 * of a float32, read as that float32 (widenBf16's values, without a widened copy of the partition).
 */
export interface Contribution {
  readonly miner: string;
  readonly samples: number;
  readonly data: Float32Array | Uint16Array;
}

/** Elements widened at a time from bfloat16 codes into a scratch block (16 KiB of float32). */
const BLOCK = 4096;

/**
 * sum_k w_k x_k / sum_k w_k, element-wise, contributors taken in miner-id order, each element
 * accumulated in float64 then rounded once to float32. Invariant (property-tested): any permutation
 * of `contributions` yields the same bytes. Throws RangeError on an empty set, mismatched lengths,
 * duplicate miners or non-positive total weight: the host validates inputs first.
 */
export const weightedAverage = (contributions: readonly Contribution[]): Float32Array => {
  if (contributions.length === 0) throw new RangeError("nothing to average");
  const sorted = contributions.slice().sort((a, b) => byCodeUnit(a.miner, b.miner));
  const n = (sorted[0] as Contribution).data.length;
  let total = 0;
  for (let k = 0; k < sorted.length; k++) {
    const c = sorted[k] as Contribution;
    if (c.data.length !== n) throw new RangeError(`contribution of ${c.miner} has ${c.data.length} elements, expected ${n}`);
    if (k > 0 && (sorted[k - 1] as Contribution).miner === c.miner) throw new RangeError(`duplicate contribution from ${c.miner}`);
    if (!(c.samples >= 0) || !Number.isFinite(c.samples)) throw new RangeError(`bad sample count for ${c.miner}`);
    total += c.samples;
  }
  if (!(total > 0)) throw new RangeError("total weight must be positive");
  const out = new Float32Array(n);
  const ws = sorted.map((c) => c.samples);
  const datas = sorted.map((c) => c.data);
  if (datas.every((x) => x instanceof Float32Array)) {
    accumulate(datas as Float32Array[], ws, total, out, 0);
    return out;
  }
  // bfloat16 codes are widened a block at a time into scratch (the same float32 values widenBf16
  // gives, so the same bytes), each block then averaged as float32 contributions are.
  const scratch = datas.map(() => new Uint32Array(Math.min(BLOCK, n)));
  const widened = scratch.map((s) => new Float32Array(s.buffer));
  for (let start = 0; start < n; start += BLOCK) {
    const len = Math.min(n, start + BLOCK) - start;
    const block = datas.map((x, j) => {
      if (x instanceof Float32Array) return x.subarray(start, start + len);
      widenCodesInto(x, start, (scratch[j] as Uint32Array).subarray(0, len));
      return (widened[j] as Float32Array).subarray(0, len);
    });
    accumulate(block, ws, total, out, start);
  }
  return out;
};

/**
 * out[at + i] = (0 + w0·x0[i] + w1·x1[i] + ...) / total, contributors in order: one pass per element
 * with a float64 running sum, without a float64 buffer (~3x faster than one, same bytes).
 */
const accumulate = (xs: readonly Float32Array[], ws: readonly number[], total: number, out: Float32Array, at: number): void => {
  const n = (xs[0] as Float32Array).length;
  const k = xs.length;
  if (k === 2) {
    const [x0, x1] = xs as [Float32Array, Float32Array];
    const [w0, w1] = ws as [number, number];
    for (let i = 0; i < n; i++) out[at + i] = (0 + w0 * (x0[i] as number) + w1 * (x1[i] as number)) / total;
    return;
  }
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let j = 0; j < k; j++) acc += (ws[j] as number) * ((xs[j] as Float32Array)[i] as number);
    out[at + i] = acc / total;
  }
};

/** DiLoCo's outer optimizer (Douillard et al. 2023): Nesterov momentum on the pseudo-gradient. */
export interface OuterRule {
  /** Outer learning rate (DiLoCo: 0.7). */
  readonly lr: number;
  /** Outer Nesterov momentum (DiLoCo: 0.9); 0 with lr 1 is plain averaging, up to rounding. */
  readonly momentum: number;
}

/**
 * One outer step on a partition: Δ = anchor − merged, u ← μ·u + Δ, θ ← anchor − lr·(Δ + μ·u),
 * element by element, each value rounded to float32 where stored, exactly as the kernels'
 * `pseudoGradient` + `OuterNesterov.step` do (a test compares the bytes). `anchor` is the
 * partition after the stage's previous merge (all participants started from it), `momentum`
 * the previous u (null: zeros, the first merge). Pure and order-fixed: both reducers of a
 * partition produce identical bytes. Throws RangeError on mismatched lengths.
 */
export const outerStep = (rule: OuterRule, anchor: Float32Array, momentum: Float32Array | null, merged: Float32Array): { params: Float32Array; momentum: Float32Array } => {
  const n = anchor.length;
  if (merged.length !== n || (momentum !== null && momentum.length !== n)) throw new RangeError(`outerStep: lengths differ (${n}, ${merged.length}, ${momentum?.length ?? "-"})`);
  const mu = rule.momentum;
  const u = momentum === null ? new Float32Array(n) : momentum.slice();
  const p = anchor.slice();
  const d = new Float32Array(1);
  for (let i = 0; i < n; i++) {
    d[0] = (p[i] as number) - (merged[i] as number);
    const di = d[0] as number;
    u[i] = mu * (u[i] as number) + di;
    p[i] = (p[i] as number) - rule.lr * (di + mu * (u[i] as number));
  }
  return { params: p, momentum: u };
};

/** A reducer's result blob under an outer rule: the partition's new parameters, then its momentum. */
export const packOuter = (r: { readonly params: Float32Array; readonly momentum: Float32Array }): Float32Array => {
  const out = new Float32Array(r.params.length * 2);
  out.set(r.params, 0);
  out.set(r.momentum, r.params.length);
  return out;
};

/** Splits a `packOuter` blob of a partition of `length` values (RangeError if it is not one). */
export const unpackOuter = (x: Float32Array, length: number): { params: Float32Array; momentum: Float32Array } => {
  if (x.length !== 2 * length) throw new RangeError(`outer result has ${x.length} values, expected ${2 * length}`);
  return { params: x.subarray(0, length), momentum: x.subarray(length) };
};

/** What an outer-step reduction starts from: the rule, the partition after the previous merge, its momentum. */
export interface OuterBasis {
  readonly rule: OuterRule;
  readonly anchor: Float32Array;
  /** null: zeros (no merge of this partition was accepted yet). */
  readonly momentum: Float32Array | null;
}

/**
 * A reducer's result for one partition: the sample-weighted mean of the contributions, or, with
 * an outer basis, packOuter(outerStep(basis, mean)) — the new parameters then the new momentum.
 */
export const reduceResult = (contributions: readonly Contribution[], basis?: OuterBasis): Float32Array => {
  const mean = weightedAverage(contributions);
  return basis === undefined ? mean : packOuter(outerStep(basis.rule, basis.anchor, basis.momentum, mean));
};

/**
 * The parameters an accepted result sets for a partition of `length` values: the whole blob, or
 * under an outer rule its first half. undefined if the blob has the wrong size (keep own values).
 */
export const resultParams = (x: Float32Array, length: number, outer: boolean): Float32Array | undefined =>
  x.length === (outer ? 2 : 1) * length ? x.subarray(0, length) : undefined;

/**
 * Adopts an accepted partition result into a miner's weights `w` at `start`. Without a snapshot
 * the result replaces the values. With `base` (the full weights the miner sent to this merge, when
 * training overlapped the merge) the miner keeps what it learned meanwhile: result + (w − base),
 * elementwise, rounded to float32 once.
 */
export const adoptPartition = (w: Float32Array, start: number, result: Float32Array, base: Float32Array | undefined): void => {
  if (base === undefined) {
    w.set(result, start);
    return;
  }
  for (let i = 0; i < result.length; i++) {
    const j = start + i;
    w[j] = (result[i] as number) + ((w[j] as number) - (base[j] as number));
  }
};

/**
 * A 128-bit non-cryptographic digest of bytes (four multiply-xor lanes), hex. The pure simulator
 * uses it as the result hash; real hosts use sha256 from the injected CryptoSuite.
 */
export const digestBytes = (bytes: Uint8Array): string => {
  let h1 = 0x811c9dc5, h2 = 0x01000193, h3 = 0x9e3779b9, h4 = 0x85ebca6b;
  for (let i = 0; i < bytes.length; i++) {
    const k = bytes[i] as number;
    h1 = Math.imul(h1 ^ k, 0x01000193);
    h2 = Math.imul(h2 ^ k, 0x5bd1e995) ^ (h1 >>> 15);
    h3 = Math.imul(h3 ^ k, 0xcc9e2d51) ^ (h2 >>> 13);
    h4 = Math.imul(h4 ^ k, 0x1b873593) ^ (h3 >>> 16);
  }
  const lanes = [h1 ^ bytes.length, h2, h3, h4].map((h) => {
    let x = h;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    x ^= x >>> 16;
    return (x >>> 0).toString(16).padStart(8, "0");
  });
  return lanes.join("");
};

/** The bytes of a float32 vector, little-endian as stored (the bytes that get hashed). */
export const f32Bytes = (x: Float32Array): Uint8Array => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);

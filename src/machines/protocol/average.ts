// The reducer's arithmetic: the sample-weighted mean of one partition over the merge contributors,
// in a fixed order (sorted by miner id) with float64 accumulation, so two honest reducers produce
// identical bytes and their result hashes can be compared (DESIGN "Merging"; hivemind averages
// in arrival order and so cannot compare reducers).
import { byCodeUnit } from "./rng.js";

/** One contributor's copy of a partition, weighted by the samples it trained on since the last merge. */
export interface Contribution {
  readonly miner: string;
  readonly samples: number;
  readonly data: Float32Array;
}

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
  const acc = new Float64Array(n);
  for (const c of sorted) {
    const w = c.samples;
    const x = c.data;
    for (let i = 0; i < n; i++) acc[i] = (acc[i] as number) + w * (x[i] as number);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (acc[i] as number) / total;
  return out;
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

// Seeded data assignment: microbatch k of a run reads dataset batch batchFor(seed, k, n). Each pass
// over the data is a fresh pseudo-random permutation of [0, n), so anyone can recompute which
// tokens a microbatch held, and a reissued microbatch reads the same tokens as the first attempt.
import { hash128 } from "./rng.js";

/** murmur3's 32-bit finalizer. */
const fmix32 = (h0: number): number => {
  let h = h0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
};

/**
 * A keyed permutation of [0, n) in O(1) memory: a 4-round balanced Feistel network on the
 * smallest even bit width covering n, with cycle walking (Black & Rogaway 2002) to stay inside
 * [0, n). A Feistel network is a bijection for any round function, and cycle walking restricts a
 * bijection to a bijection, so every index maps to a distinct batch (property-tested).
 */
export const permute = (key: readonly number[], i: number, n: number): number => {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`permute needs n >= 1, got ${n}`);
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`index ${i} outside [0, ${n})`);
  if (n === 1) return 0;
  let bits = Math.max(2, Math.ceil(Math.log2(n)));
  if (bits % 2 === 1) bits += 1;
  const half = bits / 2;
  const mask = 2 ** half - 1;
  let v = i;
  do {
    let l = Math.floor(v / 2 ** half) & mask;
    let r = v & mask;
    for (let round = 0; round < 4; round++) {
      const f = fmix32((r + Math.imul((key[round % key.length] ?? 0) | 0, 0x9e3779b9) + round) | 0) & mask;
      const nl = r;
      r = (l ^ f) & mask;
      l = nl;
    }
    v = l * 2 ** half + r;
  } while (v >= n);
  return v;
};

/**
 * The dataset batch that microbatch `k` reads: pass p = floor(k / n) uses the permutation keyed by
 * hash(seed, p). Pure; no table is built, so it works for any dataset size.
 */
export const batchFor = (seed: string, k: number, n: number): number => {
  const pass = Math.floor(k / n);
  return permute(hash128(JSON.stringify([seed, "data", pass])), k - pass * n, n);
};

// Seeded randomness for every protocol decision: a pure string hash (cyrb128) seeds xoshiro128**,
// so routing, data order and reducer choice replay bit for bit from (run seed, event id).

/**
 * cyrb128 (bryc, public domain): four independent 32-bit lanes over the UTF-16 code units of `s`.
 * Not cryptographic; it only has to spread seeds, and it is pure (no crypto import in src/machines).
 */
export const hash128 = (s: string): readonly [number, number, number, number] => {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
};

/** A deterministic generator; every draw advances it. */
export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  u32(): number;
  /** Uniform in [0, 1), 32 bits of resolution. */
  float(): number;
  /** Uniform integer in [0, n), unbiased (rejection sampling); n >= 1. */
  int(n: number): number;
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** xoshiro128** (Blackman & Vigna 2018) seeded with the four lanes of hash128(seed). */
export const xoshiro128 = (seed: string): Rng => {
  let [a, b, c, d] = hash128(seed);
  if ((a | b | c | d) === 0) a = 1; // the all-zero state is the one fixed point
  const u32 = (): number => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return r;
  };
  const int = (n: number): number => {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`int(n) needs an integer 1 <= n <= 2^32, got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n); // reject the biased tail
    for (;;) {
      const x = u32();
      if (x < limit) return x % n;
    }
  };
  return { u32, float: () => u32() / 2 ** 32, int };
};

/**
 * The generator for one decision: the seed is the run seed, a purpose tag and the id of the
 * event that makes the decision (or another logged key), joined unambiguously. Anyone holding the
 * log recomputes the same draws.
 */
export const rngFor = (runSeed: string, purpose: string, ...keys: readonly (string | number)[]): Rng =>
  xoshiro128(JSON.stringify([runSeed, purpose, ...keys]));

/** Fisher-Yates shuffle of a copy, driven by `rng`. */
export const shuffled = <T>(xs: readonly T[], rng: Rng): T[] => {
  const out = xs.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = out[i] as T;
    out[i] = out[j] as T;
    out[j] = t;
  }
  return out;
};

/** Code-unit string order (never localeCompare: it depends on the host's ICU data). */
export const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

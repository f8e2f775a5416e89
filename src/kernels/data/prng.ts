// Stateless seeded randomness for data assignment: a value is a hash of its coordinates
// (seed, batch id, row), so anyone can recompute any batch without replaying a generator.
// Mixer: murmur3's fmix32 finalizer; 53-bit uniforms from two independent 32-bit hashes.

/** murmur3 fmix32: a bijective avalanche mix of a 32-bit integer. */
export const fmix32 = (x: number): number => {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
};

/** A 32-bit hash of a list of 32-bit integers (order matters). */
export const hash32 = (...xs: readonly number[]): number => {
  let h = 0x9e3779b9;
  for (const x of xs) h = fmix32((h ^ fmix32(x >>> 0)) + 0x7f4a7c15);
  return h;
};

/** Uniform in [0, 1) with 53 bits, a pure function of its coordinates. */
export const uniform = (...xs: readonly number[]): number => {
  const hi = hash32(...xs, 0x68e31da4) >>> 11; // 21 bits
  const lo = hash32(...xs, 0xb5297a4d); // 32 bits
  return (hi * 4294967296 + lo) / 2 ** 53;
};

/** Uniform integer in [0, n), n <= 2^53. */
export const uniformInt = (n: number, ...xs: readonly number[]): number => Math.floor(uniform(...xs) * n);

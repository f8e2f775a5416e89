// IEEE 754 binary16 conversion (Node 20 has no Float16Array): float32 -> half with
// round-to-nearest-even, half -> float32 through a 64K-entry table. Invariant: for every finite
// float x within half range, |half(x) - x| <= 2^-11 * |x| (normal) or <= 2^-25 (subnormal).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bits nearest to `x` (ties to even); overflow gives ±Infinity, NaN stays NaN. */
export const toHalf = (x: number): number => {
  f32[0] = x;
  const bits = u32[0] ?? 0;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // Inf or NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    mant |= 0x800000; // implicit leading 1
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rem > mid || (rem === mid && (half & 1) === 1) ? half + 1 : half);
  }
  let half = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) {
    half++;
    if (half === 0x400) {
      half = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | half;
};

const table = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 0x1f ? (m === 0 ? s * Infinity : NaN) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

/** The float value of binary16 bits. */
export const fromHalf = (h: number): number => table[h & 0xffff] ?? NaN;

/** Converts a whole array; `out` may be given to avoid allocation. */
export const toHalfArray = (x: Float32Array, out: Uint16Array = new Uint16Array(x.length)): Uint16Array => {
  for (let i = 0; i < x.length; i++) out[i] = toHalf(x[i] ?? 0);
  return out;
};

/** Converts binary16 bits back to float32. */
export const fromHalfArray = (h: Uint16Array, out: Float32Array = new Float32Array(h.length)): Float32Array => {
  for (let i = 0; i < h.length; i++) out[i] = table[h[i] ?? 0] ?? NaN;
  return out;
};

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bf16Bytes, bf16Codes, partitionBounds, roundToBf16, weightedAverage, widenBf16 } from "../../../src/machines/protocol/index.js";

/** Reference rounding through float64: the nearest bfloat16 value, ties to the even code. */
const reference = (v: number): number => {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer);
  const b = u[0] as number;
  const lo = (b & 0xffff0000) >>> 0;
  const hi = (lo + 0x10000) >>> 0;
  const down = new Float32Array(new Uint32Array([lo]).buffer)[0] as number;
  const upBits = new Float32Array(new Uint32Array([hi]).buffer)[0] as number;
  // Past the largest finite bfloat16 the next step up is ±2^128 for the distance, infinity as a value.
  const up = Number.isFinite(upBits) ? upBits : Math.sign(upBits) * 2 ** 128;
  const x = f[0] as number;
  const dDown = Math.abs(x - down);
  const dUp = Math.abs(up - x);
  if (dDown < dUp) return down;
  if (dUp < dDown) return upBits;
  return ((lo >>> 16) & 1) === 0 ? down : upBits;
};

describe("bfloat16 snapshots", () => {
  it("rounds to nearest, ties to even, and widens back to the rounded values", () => {
    const x = new Float32Array([1, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -9, 3.14159, -0, 0, 1e-40, 65504.7]);
    const want = Array.from(x, reference);
    const codes = roundToBf16(x);
    expect(Array.from(x)).toEqual(want);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even code (1); 1 + 3·2^-8 ties up to 1 + 2^-6.
    expect(x[2]).toBe(1);
    expect(x[3]).toBe(1 + 2 ** -6);
    expect(Object.is(x[6], -0)).toBe(true);
    const back = widenBf16(new Uint8Array(codes.buffer));
    expect(Array.from(back)).toEqual(Array.from(x));
  });

  it("keeps infinities and NaN (quiet), and does not carry the largest finite values into infinity's sign", () => {
    const x = new Float32Array([Infinity, -Infinity, NaN, 3.4028234663852886e38, -3.4028234663852886e38]);
    roundToBf16(x);
    expect(x[0]).toBe(Infinity);
    expect(x[1]).toBe(-Infinity);
    expect(Number.isNaN(x[2])).toBe(true);
    // The largest float32 rounds up past bfloat16's largest finite value: to infinity, sign kept.
    expect(x[3]).toBe(Infinity);
    expect(x[4]).toBe(-Infinity);
  });

  it("matches the reference on any finite float32, and widening a partition's bytes gives its rounded values", () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 64 }), fc.integer({ min: 1, max: 5 }), (vs, parts) => {
        const x = Float32Array.from(vs);
        const codes = roundToBf16(x);
        for (let i = 0; i < x.length; i++) if (!Object.is(x[i], reference(vs[i] as number))) return false;
        for (const p of partitionBounds(x.length, Math.min(parts, x.length))) {
          const w = widenBf16(bf16Bytes(codes, p).slice());
          if (!w.every((v, i) => Object.is(v, x[p.start + i]))) return false;
        }
        return true;
      }),
    );
  });

  it("refuses an odd byte count", () => {
    expect(() => widenBf16(new Uint8Array(3))).toThrow(RangeError);
    expect(() => bf16Codes(new Uint8Array(3))).toThrow(RangeError);
  });

  it("reads codes from unaligned bytes as from aligned ones", () => {
    const codes = roundToBf16(Float32Array.from([1.5, -3.25, 7e-3, 1e30]));
    const odd = new Uint8Array(codes.byteLength + 1);
    odd.set(new Uint8Array(codes.buffer), 1);
    expect(Array.from(bf16Codes(odd.subarray(1)))).toEqual(Array.from(codes));
    expect(bf16Codes(new Uint8Array(codes.buffer)).buffer).toBe(codes.buffer);
  });

  it("averages bfloat16 codes to the bytes of averaging their widened float32 values, mixed with float32 contributors, across blocks", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9_000 }), fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 50 })), { minLength: 1, maxLength: 4 }), fc.integer(),
        (n, who, seed) => {
          let s = seed | 0;
          const next = (): number => ((s = (Math.imul(s, 1103515245) + 12345) | 0) / 2 ** 31) * 3;
          const cs = who.map(([bf16, samples], k) => {
            const x = Float32Array.from({ length: n }, next);
            const codes = roundToBf16(x);
            return { miner: `m${k}`, samples, bf16, codes, x };
          });
          const widened = weightedAverage(cs.map((c) => ({ miner: c.miner, samples: c.samples, data: c.bf16 ? widenBf16(new Uint8Array(c.codes.buffer)) : c.x })));
          const direct = weightedAverage(cs.map((c) => ({ miner: c.miner, samples: c.samples, data: c.bf16 ? c.codes : c.x })));
          return Buffer.from(direct.buffer).equals(Buffer.from(widened.buffer));
        },
      ),
      { numRuns: 60 },
    );
  });
});

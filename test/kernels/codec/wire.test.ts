// Wire codec: round trips within stated error bounds, exact sizes, and typed refusal of every
// malformed buffer (fast-check properties).
import fc from "fast-check";
import { Result } from "effect";
import { describe, expect, it } from "vitest";
import { CodecError, compressionRatio, rowsOf, wireBytes, type WireDtype } from "../../../src/kernels/codec/format.js";
import { fromHalf, toHalf } from "../../../src/kernels/codec/half.js";
import { decode, decodeResult, encode, type FloatTensor } from "../../../src/kernels/codec/wire.js";

const shape = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 });
const tensor = (maxAbs: number): fc.Arbitrary<FloatTensor> =>
  shape.chain((dims) => {
    const n = dims.reduce((a, b) => a * b, 1);
    return fc.array(fc.float({ min: Math.fround(-maxAbs), max: Math.fround(maxAbs), noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n })
      .map((xs) => ({ dims, data: Float32Array.from(xs) }));
  });
const dtype = fc.constantFrom<WireDtype>("fp32", "fp16", "int8");

const codecReason = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (err instanceof CodecError) return err.reason;
    throw err;
  }
  return "ok";
};

describe("fp16 conversion", () => {
  it("maps every finite half back to itself", () => {
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(toHalf(fromHalf(h))).toBe(h);
    }
  });

  it("rounds to nearest even at midpoints and overflows to infinity", () => {
    expect(toHalf(1 + 2 ** -11)).toBe(toHalf(1)); // tie -> even mantissa (1.0)
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(toHalf(1 + 2 ** -9)); // tie -> even (1 + 2^-9)
    expect(fromHalf(toHalf(65504))).toBe(65504);
    expect(fromHalf(toHalf(65520))).toBe(Infinity);
    expect(fromHalf(toHalf(2 ** -24))).toBe(2 ** -24);
    expect(fromHalf(toHalf(2 ** -26))).toBe(0);
  });

  it("stays within half a unit in the last place of any float in range", () => {
    fc.assert(fc.property(fc.float({ min: -65504, max: 65504, noNaN: true }), (x) => {
      const err = Math.abs(fromHalf(toHalf(x)) - x);
      return err <= Math.abs(x) * 2 ** -11 + 2 ** -25;
    }));
  });
});

describe("wire codec", () => {
  it("round-trips fp32 exactly", () => {
    fc.assert(fc.property(tensor(1e30), (t) => {
      const d = decode(encode(t, "fp32"));
      expect(d.dims).toEqual(t.dims);
      expect(Array.from(d.data)).toEqual(Array.from(t.data));
    }));
  });

  it("round-trips fp16 within 2^-11 relative (plus the subnormal step of the shifted range)", () => {
    fc.assert(fc.property(fc.oneof(tensor(1e-6), tensor(60000), tensor(1e30)), (t) => {
      const d = decode(encode(t, "fp16"));
      const max = t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      return d.data.every((v, i) => Math.abs(v - (t.data[i] ?? 0)) <= Math.abs(t.data[i] ?? 0) * 2 ** -11 + 2 * max * 2 ** -25);
    }));
  });

  it("keeps tiny gradients precise: a 1e-7-scale tensor survives int8 with per-row relative error", () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 1e-7);
    const d = decode(encode({ dims: [4, 16], data: x }, "int8"));
    d.data.forEach((v, i) => expect(Math.abs(v - (x[i] ?? 0))).toBeLessThan(1e-7 / 200));
    const h = decode(encode({ dims: [64], data: x }, "fp16"));
    h.data.forEach((v, i) => expect(Math.abs(v - (x[i] ?? 0))).toBeLessThanOrEqual(Math.abs(x[i] ?? 0) * 2 ** -11 + 1e-7 * 2 ** -24));
  });

  it("round-trips int8 within half a quantization step of each row's scale", () => {
    fc.assert(fc.property(fc.oneof(tensor(1000), tensor(1e-5)), (t) => {
      const d = decode(encode(t, "int8"));
      const rows = rowsOf(t.dims);
      const cols = t.data.length / rows;
      for (let r = 0; r < rows; r++) {
        const row = t.data.subarray(r * cols, (r + 1) * cols);
        const max = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const all = t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const halfStep = (max / 127) * (1 + 2 ** -10) / 2 + 2 * all * 2 ** -25;
        for (let c = 0; c < cols; c++) {
          if (Math.abs((d.data[r * cols + c] ?? NaN) - (row[c] ?? 0)) > halfStep) return false;
        }
      }
      return true;
    }));
  });

  it("decodes a buffer that sits at an odd offset inside a larger one", () => {
    fc.assert(fc.property(tensor(100), dtype, (t, dt) => {
      const b = encode(t, dt);
      const big = new Uint8Array(b.length + 1);
      big.set(b, 1);
      expect(Array.from(decode(big.subarray(1)).data)).toEqual(Array.from(decode(b).data));
    }), { numRuns: 30 });
  });

  it("produces exactly wireBytes(dims, dtype) bytes", () => {
    fc.assert(fc.property(tensor(10), dtype, (t, dt) => encode(t, dt).length === wireBytes(t.dims, dt)));
  });

  it("computes the compression ratio as fp32 bytes over wire bytes", () => {
    // [8,64,512] fp32 = 1 MiB; [8,64,14] int8 = 20-byte header + 512 fp16 scales + 7168 bytes.
    expect(wireBytes([8, 64, 14], "int8")).toBe(20 + 1024 + 7168);
    expect(compressionRatio([8, 64, 512], [8, 64, 14], "int8")).toBeCloseTo(1048576 / 8212, 9);
    expect(compressionRatio([8, 64, 512], [8, 64, 14], "int8")).toBeGreaterThan(127);
  });

  it("refuses NaN and infinities at encode, and shifts large values into fp16 range", () => {
    expect(codecReason(() => encode({ dims: [2], data: Float32Array.of(1, NaN) }, "fp32"))).toBe("non-finite");
    expect(codecReason(() => encode({ dims: [1], data: Float32Array.of(Infinity) }, "fp16"))).toBe("non-finite");
    expect(codecReason(() => encode({ dims: [1], data: Float32Array.of(-Infinity) }, "int8"))).toBe("non-finite");
    expect(decode(encode({ dims: [1], data: Float32Array.of(1e9) }, "fp16")).data[0]).toBeCloseTo(1e9, -6);
    expect(codecReason(() => encode({ dims: [3], data: Float32Array.of(1) }, "fp32"))).toBe("bad-dims");
  });

  it("refuses every truncation of a valid buffer with a CodecError", () => {
    fc.assert(fc.property(tensor(10), dtype, (t, dt) => {
      const buf = encode(t, dt);
      for (let len = 0; len < buf.length; len++) {
        if (codecReason(() => decode(buf.subarray(0, len))) !== "truncated") return false;
      }
      return true;
    }), { numRuns: 30 });
  });

  it("refuses trailing bytes, bad magic, version, dtype, rank, and exponents that do not fit", () => {
    const buf = encode({ dims: [2, 3], data: new Float32Array(6).fill(0.5) }, "int8");
    const patched = (i: number, v: number): Uint8Array => {
      const b = buf.slice();
      b[i] = v;
      return b;
    };
    expect(codecReason(() => decode(Uint8Array.from([...buf, 0])))).toBe("trailing-bytes");
    expect(codecReason(() => decode(patched(0, 0)))).toBe("bad-magic");
    expect(codecReason(() => decode(patched(4, 9)))).toBe("bad-version");
    expect(codecReason(() => decode(patched(5, 7)))).toBe("bad-dtype");
    expect(codecReason(() => decode(patched(6, 200)))).toBe("bad-rank");
    expect(codecReason(() => decode(encode({ dims: [1], data: Float32Array.of(1) }, "fp32").map((b, i) => (i === 7 ? 1 : b))))).toBe("bad-scale");
    const big = encode({ dims: [1], data: Float32Array.of(1e30) }, "fp16");
    big[7] = 127;
    new DataView(big.buffer).setUint16(12, 0x7bff, true); // 65504 · 2^127 overflows float32
    expect(codecReason(() => decode(big))).toBe("non-finite");
  });

  it("refuses shapes beyond the element limit before allocating and a shape it did not expect", () => {
    const buf = encode({ dims: [4, 4], data: new Float32Array(16) }, "fp16");
    const huge = buf.slice();
    new DataView(huge.buffer).setUint32(8, 0xffffffff, true);
    expect(codecReason(() => decode(huge))).toBe("oversized");
    expect(codecReason(() => decode(buf, { maxElements: 15 }))).toBe("oversized");
    expect(codecReason(() => decode(buf, { expectDims: [4, 5] }))).toBe("bad-dims");
    expect(decode(buf, { expectDims: [4, 4] }).dims).toEqual([4, 4]);
  });

  it("refuses negative, infinite scales and the asymmetric -128 in int8 payloads", () => {
    const buf = encode({ dims: [1, 2], data: Float32Array.of(1, -1) }, "int8");
    const neg = buf.slice();
    neg[17] = (neg[17] ?? 0) | 0x80; // sign bit of the first scale (header 16 bytes, scale at 16..17)
    expect(codecReason(() => decode(neg))).toBe("bad-scale");
    const inf = buf.slice();
    new DataView(inf.buffer).setUint16(16, 0x7c00, true);
    expect(codecReason(() => decode(inf))).toBe("bad-scale");
    const m128 = buf.slice();
    m128[18] = 0x80;
    expect(codecReason(() => decode(m128))).toBe("bad-scale");
  });

  it("answers random bytes and random corruptions with a tensor or a CodecError, never another error", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const r = decodeResult(bytes);
      return Result.isSuccess(r) || r.failure instanceof CodecError;
    }));
    fc.assert(fc.property(tensor(10), dtype, fc.nat(), fc.integer({ min: 0, max: 255 }), (t, dt, at, v) => {
      const b = encode(t, dt);
      b[at % b.length] = v;
      const r = decodeResult(b);
      return Result.isSuccess(r) || r.failure instanceof CodecError;
    }));
  });
});

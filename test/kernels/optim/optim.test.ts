// AdamW and the outer Nesterov step against float64 references; clipping; deterministic bytes;
// save/restore continues byte for byte; corrupt state is refused.
import { describe, expect, it } from "vitest";
import { AdamW, globalNorm } from "../../../src/kernels/optim/adamw.js";
import { OuterNesterov, pseudoGradient } from "../../../src/kernels/optim/nesterov.js";
import { OptimStateError, StateReader, StateWriter } from "../../../src/kernels/optim/state-bytes.js";

const gen = (seed: number) => {
  let s = seed >>> 0;
  return (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
};
const arrays = (sizes: number[], rnd: () => number, scale = 1): Float32Array[] => sizes.map((n) => Float32Array.from({ length: n }, () => rnd() * scale));
const bytesOf = (xs: readonly Float32Array[]): number[] => xs.flatMap((x) => Array.from(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)));

/** Float64 AdamW reference (Loshchilov & Hutter, Algorithm 2), clipping by global norm. */
const refAdamW = (p0: Float32Array[], gradsPerStep: Float32Array[][], lr: number, b1: number, b2: number, eps: number, wd: number, clip: number): number[][] => {
  const p = p0.map((x) => Array.from(x));
  const m = p.map((x) => x.map(() => 0));
  const v = p.map((x) => x.map(() => 0));
  gradsPerStep.forEach((grads, t0) => {
    const t = t0 + 1;
    const norm = Math.sqrt(grads.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
    const c = norm > clip ? clip / (norm + 1e-6) : 1;
    p.forEach((pk, k) => pk.forEach((_, i) => {
      const g = (grads[k]?.[i] ?? 0) * c;
      const mk = m[k] as number[];
      const vk = v[k] as number[];
      mk[i] = b1 * (mk[i] ?? 0) + (1 - b1) * g;
      vk[i] = b2 * (vk[i] ?? 0) + (1 - b2) * g * g;
      const mh = (mk[i] ?? 0) / (1 - b1 ** t);
      const vh = (vk[i] ?? 0) / (1 - b2 ** t);
      pk[i] = (pk[i] ?? 0) * (1 - lr * wd) - (lr * mh) / (Math.sqrt(vh) + eps);
    }));
  });
  return p;
};

describe("AdamW", () => {
  const sizes = [7, 12, 3];

  it("matches a float64 reference over several steps, clipping included", () => {
    const rnd = gen(1);
    const p = arrays(sizes, rnd);
    const p0 = p.map((x) => x.slice());
    const grads = Array.from({ length: 6 }, (_, s) => arrays(sizes, rnd, s % 2 === 0 ? 10 : 0.1)); // alternately clipped
    const opt = new AdamW(sizes, { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipNorm: 1 });
    const reports = grads.map((g) => opt.step(p, g));
    expect(reports[0]?.clipScale).toBeLessThan(1);
    expect(reports[1]?.clipScale).toBe(1);
    const ref = refAdamW(p0, grads, 0.01, 0.9, 0.95, 1e-8, 0.1, 1);
    p.forEach((pk, k) => pk.forEach((x, i) => expect(Math.abs(x - (ref[k]?.[i] ?? NaN))).toBeLessThan(1e-5)));
    expect(opt.steps).toBe(6);
  });

  it("reports the global norm summed over every tensor", () => {
    expect(globalNorm([Float32Array.of(3), Float32Array.of(0, 4)])).toBe(5);
    const opt = new AdamW([1, 2], { lr: 0.1, clipNorm: 1 });
    const r = opt.step([new Float32Array(1), new Float32Array(2)], [Float32Array.of(3), Float32Array.of(0, 4)]);
    expect(r.gradNorm).toBe(5);
    expect(r.clipScale).toBeCloseTo(0.2, 6);
  });

  it("leaves exempt parameters undecayed", () => {
    const opt = new AdamW([1, 1], { lr: 0.5, weightDecay: 0.5 }, [true, false]);
    const p = [Float32Array.of(1), Float32Array.of(1)];
    opt.step(p, [Float32Array.of(0), Float32Array.of(0)]);
    expect(p[0]?.[0]).toBeCloseTo(0.75, 6);
    expect(p[1]?.[0]).toBe(1);
  });

  it("produces identical bytes in two runs from the same inputs", () => {
    const run = () => {
      const rnd = gen(7);
      const p = arrays(sizes, rnd);
      const opt = new AdamW(sizes, { lr: 0.003, weightDecay: 0.01, clipNorm: 0.5 });
      for (let s = 0; s < 5; s++) opt.step(p, arrays(sizes, rnd, 3));
      return [bytesOf(p), Array.from(opt.save())];
    };
    expect(run()).toEqual(run());
  });

  it("continues byte for byte after save and restore into a fresh optimizer", () => {
    const cfg = { lr: 0.003, weightDecay: 0.01, clipNorm: 0.5 };
    const rnd = gen(3);
    const p = arrays(sizes, rnd);
    const grads = Array.from({ length: 10 }, () => arrays(sizes, rnd, 2));
    const straight = new AdamW(sizes, cfg);
    const pa = p.map((x) => x.slice());
    grads.forEach((g) => straight.step(pa, g));

    const first = new AdamW(sizes, cfg);
    const pb = p.map((x) => x.slice());
    grads.slice(0, 4).forEach((g) => first.step(pb, g));
    const saved = first.save();
    const second = new AdamW(sizes, cfg);
    second.restore(saved);
    grads.slice(4).forEach((g) => second.step(pb, g));
    expect(bytesOf(pb)).toEqual(bytesOf(pa));
    expect(Array.from(second.save())).toEqual(Array.from(straight.save()));
  });

  it("refuses state that is truncated, for other shapes or other hyperparameters", () => {
    const saved = new AdamW(sizes, { lr: 0.1 }).save();
    expect(() => new AdamW(sizes, { lr: 0.1 }).restore(saved.subarray(0, saved.length - 1))).toThrow(OptimStateError);
    expect(() => new AdamW([7, 12, 4], { lr: 0.1 }).restore(saved)).toThrow(OptimStateError);
    expect(() => new AdamW(sizes, { lr: 0.2 }).restore(saved)).toThrow(OptimStateError);
    expect(() => new AdamW(sizes, { lr: 0.1 }).restore(new OuterNesterov(sizes).save())).toThrow(OptimStateError);
  });
});

describe("OuterNesterov", () => {
  const sizes = [5, 4];

  it("matches a float64 Nesterov reference over several merges", () => {
    const rnd = gen(11);
    const p = arrays(sizes, rnd);
    const ref = p.map((x) => Array.from(x));
    const u = sizes.map((n) => new Array<number>(n).fill(0));
    const opt = new OuterNesterov(sizes, { lr: 0.7, momentum: 0.9 });
    for (let s = 0; s < 4; s++) {
      const merged = p.map((x) => x.map((v) => v - rnd() * 0.1));
      const delta = pseudoGradient(p, merged);
      opt.step(p, delta);
      ref.forEach((rk, k) => rk.forEach((_, i) => {
        const d = delta[k]?.[i] ?? 0;
        const uk = u[k] as number[];
        uk[i] = 0.9 * (uk[i] ?? 0) + d;
        rk[i] = (rk[i] ?? 0) - 0.7 * (d + 0.9 * (uk[i] ?? 0));
      }));
    }
    p.forEach((pk, k) => pk.forEach((x, i) => expect(Math.abs(x - (ref[k]?.[i] ?? NaN))).toBeLessThan(1e-5)));
  });

  it("with lr 1 and no momentum lands exactly on the merged parameters", () => {
    const rnd = gen(5);
    const p = arrays(sizes, rnd);
    const merged = arrays(sizes, rnd);
    new OuterNesterov(sizes, { lr: 1, momentum: 0 }).step(p, pseudoGradient(p, merged));
    p.forEach((pk, k) => pk.forEach((x, i) => expect(x).toBeCloseTo(merged[k]?.[i] ?? NaN, 6)));
  });

  it("continues byte for byte after save and restore", () => {
    const rnd = gen(9);
    const p0 = arrays(sizes, rnd);
    const deltas = Array.from({ length: 6 }, () => arrays(sizes, rnd, 0.1));
    const a = new OuterNesterov(sizes);
    const pa = p0.map((x) => x.slice());
    deltas.forEach((d) => a.step(pa, d));
    const b = new OuterNesterov(sizes);
    const pb = p0.map((x) => x.slice());
    deltas.slice(0, 3).forEach((d) => b.step(pb, d));
    const c = new OuterNesterov(sizes);
    c.restore(b.save());
    deltas.slice(3).forEach((d) => c.step(pb, d));
    expect(bytesOf(pb)).toEqual(bytesOf(pa));
    expect(c.steps).toBe(6);
    expect(() => new OuterNesterov([5, 5]).restore(a.save())).toThrow(OptimStateError);
  });
});

describe("optimizer state bytes", () => {
  it("write float32 arrays as little-endian bytes and read them back exactly, from any byte offset", () => {
    const x = Float32Array.of(1, -2.5, 3e-39, Number.MAX_VALUE, -0, Infinity, 0.1);
    const bytes = new StateWriter().u32(7).f32s(x).finish();
    const expected = new Uint8Array(4 + 4 + 4 * x.length);
    const v = new DataView(expected.buffer);
    v.setUint32(0, 7, true);
    v.setUint32(4, x.length, true);
    x.forEach((f, i) => v.setFloat32(8 + 4 * i, f, true));
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
    // Read at an odd offset into a larger buffer (a state blob inside a message).
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const r = new StateReader(shifted.subarray(3));
    expect(r.u32()).toBe(7);
    const back = r.f32s(x.length);
    r.end();
    expect(Buffer.from(back.buffer).equals(Buffer.from(x.buffer))).toBe(true);
  });
});

// KernelSession: checked feeds, preallocated outputs, typed errors, release.
import { describe, expect, it } from "vitest";
import { KernelFailed } from "../../../src/kernels/runtime/errors.js";
import { matmulModel } from "../../../src/kernels/runtime/matmul-model.js";
import { KernelSession } from "../../../src/kernels/runtime/session.js";
import { f32 } from "../../../src/kernels/runtime/tensor.js";

const refMatmul = (a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array => {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += (a[i * k + p] ?? 0) * (b[p * n + j] ?? 0);
    y[i * n + j] = s;
  }
  return y;
};

const fill = (n: number, seed: number): Float32Array => {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = (s / 2 ** 32) * 2 - 1;
  }
  return a;
};

describe("KernelSession", () => {
  const [m, k, n] = [3, 5, 4];
  const a = fill(m * k, 1);
  const b = fill(k * n, 2);

  it("runs a model and matches a TypeScript reference", async () => {
    const s = await KernelSession.create(matmulModel(m, k, n), { threads: 1 });
    expect(s.inputNames).toEqual(["A", "B"]);
    expect(s.outputNames).toEqual(["Y"]);
    const { Y } = await s.run({ A: f32([m, k], a), B: f32([k, n], b) });
    expect(Y?.dims).toEqual([m, n]);
    const ref = refMatmul(a, b, m, k, n);
    Y?.data.forEach((v, i) => expect(Number(v)).toBeCloseTo(ref[i] ?? NaN, 5));
    await s.release();
  });

  it("writes into a preallocated output and returns that same buffer", async () => {
    const s = await KernelSession.create(matmulModel(m, k, n), { threads: 1 });
    const out = f32([m, n]);
    const r = await s.run({ A: f32([m, k], a), B: f32([k, n], b) }, ["Y"], { Y: out });
    expect(r.Y?.data).toBe(out.data);
    expect(out.data.some((v) => v !== 0)).toBe(true);
    await s.release();
  });

  it("rejects a feed name the model does not have (ORT would ignore it)", async () => {
    const s = await KernelSession.create(matmulModel(m, k, n));
    const run = s.run({ A: f32([m, k], a), B: f32([k, n], b), C: f32([1]) });
    await expect(run).rejects.toBeInstanceOf(KernelFailed);
    await expect(run).rejects.toMatchObject({ reason: "unknown-input" });
    await s.release();
  });

  it("rejects a missing input, an unknown output and a mis-shaped tensor", async () => {
    const s = await KernelSession.create(matmulModel(m, k, n));
    await expect(s.run({ A: f32([m, k], a) })).rejects.toMatchObject({ _tag: "KernelFailed", reason: "missing-input" });
    await expect(s.run({ A: f32([m, k], a), B: f32([k, n], b) }, ["Z"])).rejects.toMatchObject({ reason: "unknown-output" });
    await expect(s.run({ A: { dims: [m, k], data: new Float32Array(2) }, B: f32([k, n], b) })).rejects.toMatchObject({ reason: "bad-tensor" });
    await expect(s.run({ A: f32([k, m], a), B: f32([k, n], b) })).rejects.toMatchObject({ reason: "ort" });
    await s.release();
  });

  it("fails with a typed error after release and on a corrupt model", async () => {
    const s = await KernelSession.create(matmulModel(m, k, n));
    await s.release();
    await s.release();
    await expect(s.run({ A: f32([m, k], a), B: f32([k, n], b) })).rejects.toMatchObject({ reason: "released" });
    await expect(KernelSession.create(new Uint8Array([1, 2, 3, 4]))).rejects.toMatchObject({ reason: "ort" });
  });
});

// KernelPool: sessions in worker threads, zero-copy transfers, typed errors across threads, and
// an event loop that keeps turning while a large model runs.
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelFailed } from "../../../src/kernels/runtime/errors.js";
import { matmulModel } from "../../../src/kernels/runtime/matmul-model.js";
import { KernelPool } from "../../../src/kernels/runtime/pool.js";
import { f32, type Tensor } from "../../../src/kernels/runtime/tensor.js";

const vals = (d: Tensor["data"] | undefined): number[] => (d === undefined ? [] : Array.from(d, Number));
const ramp = (n: number, scale: number): Float32Array => Float32Array.from({ length: n }, (_, i) => ((i % 7) - 3) * scale);

describe("KernelPool", () => {
  let pool: KernelPool;
  beforeAll(async () => {
    pool = await KernelPool.create({ workers: 2, threadsPerWorker: 1 });
  });
  afterAll(async () => {
    await pool.close();
  });

  it("runs a model in a worker and returns its outputs", async () => {
    const info = await pool.load("mm", matmulModel(2, 3, 2));
    expect(info.inputNames).toEqual(["A", "B"]);
    const { Y } = await pool.run("mm", { A: f32([2, 3], ramp(6, 1)), B: f32([3, 2], ramp(6, 0.5)) }, ["Y"]);
    // A = [[-3,-2,-1],[0,1,2]], B = [[-1.5,-1],[-0.5,0],[0.5,1]]
    expect(vals(Y?.data)).toEqual([5, 2, 0.5, 2]);
  });

  it("keeps the caller's arrays by default and detaches them only when asked to transfer", async () => {
    await pool.load("mm", matmulModel(2, 3, 2));
    const a = ramp(6, 1);
    const b = ramp(6, 0.5);
    await pool.run("mm", { A: f32([2, 3], a), B: f32([3, 2], b) });
    expect(a.length).toBe(6);
    await pool.run("mm", { A: f32([2, 3], a), B: f32([3, 2], b) }, ["Y"], { transfer: true });
    expect(a.length).toBe(0);
    expect(b.length).toBe(0);
  });

  it("writes into caller-supplied output buffers and hands them back", async () => {
    await pool.load("mm", matmulModel(2, 3, 2));
    const out = f32([2, 2]);
    const { Y } = await pool.run("mm", { A: f32([2, 3], ramp(6, 1)), B: f32([3, 2], ramp(6, 0.5)) }, ["Y"], { preallocated: { Y: out } });
    expect(vals(Y?.data)).toEqual([5, 2, 0.5, 2]);
  });

  it("reports a wrong feed from the worker as a typed KernelFailed", async () => {
    await pool.load("mm", matmulModel(2, 3, 2));
    const run = pool.run("mm", { A: f32([2, 3]), B: f32([3, 2]), Bogus: f32([1]) });
    await expect(run).rejects.toBeInstanceOf(KernelFailed);
    await expect(run).rejects.toMatchObject({ reason: "unknown-input" });
    await expect(pool.run("nope", {})).rejects.toMatchObject({ reason: "unknown-model" });
  });

  it("keeps the event loop turning while a large model runs", async () => {
    const n = 768;
    await pool.load("big", matmulModel(n, n, n));
    const a = f32([n, n], ramp(n * n, 0.01));
    let ticks = 0;
    let running = true;
    const tick = (): void => {
      ticks++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    for (let i = 0; i < 8; i++) await pool.run("big", { A: a, B: a }, ["Y"]);
    running = false;
    // 8 runs of a 768³ MatMul take tens of ms; had they blocked the loop, no tick could interleave.
    expect(ticks).toBeGreaterThan(8);
  });

  it("spreads models over workers and runs them concurrently", async () => {
    await pool.load("w0", matmulModel(2, 3, 2), { worker: 0 });
    await pool.load("w1", matmulModel(2, 3, 2), { worker: 1 });
    const feeds = () => ({ A: f32([2, 3], ramp(6, 1)), B: f32([3, 2], ramp(6, 0.5)) });
    const [x, y] = await Promise.all([pool.run("w0", feeds()), pool.run("w1", feeds())]);
    expect(vals(x.Y?.data)).toEqual(vals(y.Y?.data));
  });

  it("fails runs after unload and after close", async () => {
    const p = await KernelPool.create();
    await p.load("mm", matmulModel(2, 3, 2));
    await p.unload("mm");
    await expect(p.run("mm", {})).rejects.toMatchObject({ reason: "unknown-model" });
    await p.load("mm", matmulModel(2, 3, 2));
    await p.close();
    await expect(p.run("mm", { A: f32([2, 3]), B: f32([3, 2]) })).rejects.toMatchObject({ reason: "released" });
  });

  it("closes a scoped pool when its Effect scope ends", async () => {
    let kept: KernelPool | undefined;
    const y = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const p = yield* KernelPool.scoped();
      kept = p;
      yield* Effect.promise(() => p.load("mm", matmulModel(2, 3, 2)));
      const out = yield* Effect.promise(() => p.run("mm", { A: f32([2, 3], ramp(6, 1)), B: f32([3, 2], ramp(6, 0.5)) }));
      return vals(out.Y?.data);
    })));
    expect(y).toEqual([5, 2, 0.5, 2]);
    await expect(kept?.run("mm", { A: f32([2, 3]), B: f32([3, 2]) })).rejects.toMatchObject({ reason: "released" });
  });
});

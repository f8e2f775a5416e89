// KernelPool stashes: tensors kept in a worker by one run and read by a later run on the same
// worker, released after use or dropped, and refused (typed) when absent or on another worker.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { matmulModel } from "../../../src/kernels/runtime/matmul-model.js";
import { KernelPool } from "../../../src/kernels/runtime/pool.js";
import { Recycler } from "../../../src/kernels/runtime/stash.js";
import { f32, type Tensor } from "../../../src/kernels/runtime/tensor.js";

const vals = (d: Tensor["data"] | undefined): number[] => (d === undefined ? [] : Array.from(d, Number));
const A = (): Tensor => f32([2, 3], Float32Array.from([-3, -2, -1, 0, 1, 2]));
const B = (): Tensor => f32([3, 2], Float32Array.from([-1.5, -1, -0.5, 0, 0.5, 1]));

describe("KernelPool stashes", () => {
  let pool: KernelPool;
  beforeAll(async () => {
    pool = await KernelPool.create({ workers: 2, threadsPerWorker: 1 });
    await pool.load("mm", matmulModel(2, 3, 2), { worker: 0 });
    await pool.load("mm-beside", matmulModel(2, 3, 2), { colocate: "mm" });
    await pool.load("mm-other", matmulModel(2, 3, 2), { worker: 1 });
  });
  afterAll(() => pool.close());

  it("keeps named outputs in the worker instead of returning them", async () => {
    const out = await pool.run("mm", { A: A(), B: B() }, ["Y"], { keep: { stash: "k1", outputs: ["Y"] } });
    expect(Object.keys(out)).toEqual([]);
    expect(pool.stashCount).toBe(1);
    await pool.drop("k1");
    expect(pool.stashCount).toBe(0);
  });

  it("feeds a colocated model's run from kept feeds, then releases the stash", async () => {
    await pool.run("mm", { A: A(), B: B() }, ["Y"], { keep: { stash: "k2", outputs: [], feeds: ["A", "B"] } });
    const { Y } = await pool.run("mm-beside", {}, ["Y"], { use: { stash: "k2", release: true } });
    expect(vals(Y?.data)).toEqual([5, 2, 0.5, 2]);
    await expect(pool.run("mm-beside", {}, ["Y"], { use: { stash: "k2" } })).rejects.toMatchObject({ _tag: "KernelFailed", reason: "unknown-stash" });
  });

  it("lets explicit feeds override stashed ones", async () => {
    await pool.run("mm", { A: A(), B: B() }, ["Y"], { keep: { stash: "k3", outputs: [], feeds: ["A", "B"] } });
    const { Y } = await pool.run("mm", { B: f32([3, 2], new Float32Array(6)) }, ["Y"], { use: { stash: "k3", release: true } });
    expect(vals(Y?.data)).toEqual([0, 0, 0, 0]);
  });

  it("refuses a stash kept on another worker, naming colocate", async () => {
    await pool.run("mm", { A: A(), B: B() }, ["Y"], { keep: { stash: "k4", outputs: [], feeds: ["A", "B"] } });
    await expect(pool.run("mm-other", {}, ["Y"], { use: { stash: "k4" } })).rejects.toThrow(/colocate/);
    await pool.drop("k4", "never-kept");
    expect(pool.stashCount).toBe(0);
  });

  it("refuses to colocate with a model that is not loaded", async () => {
    await expect(pool.load("x", matmulModel(1, 1, 1), { colocate: "nope" })).rejects.toMatchObject({ reason: "unknown-model" });
  });
});

describe("Recycler", () => {
  it("hands back released whole-buffer float32 arrays by length and skips views", () => {
    const r = new Recycler(1024);
    const whole = new Float32Array(8);
    const backing = new Float32Array(16);
    r.give([whole, backing.subarray(0, 8), new Int32Array(8)]);
    expect(r.held()).toBe(32);
    expect(r.take(8)).toBe(whole);
    expect(r.take(8)).not.toBe(whole);
    expect(r.held()).toBe(0);
  });

  it("stops holding past its byte bound", () => {
    const r = new Recycler(40);
    r.give([new Float32Array(8), new Float32Array(8)]);
    expect(r.held()).toBe(32);
  });
});

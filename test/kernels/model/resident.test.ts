// ResidentStage: a 2-stage pipeline whose activations stay in the pool worker gives the same bytes
// (loss, boundary gradient, parameter gradients) as StageRunner over the same pool, and frees its stashes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { batch } from "../../../src/kernels/data/batches.js";
import { sotuCorpus } from "../../../src/kernels/data/corpus.js";
import { DEFAULT_CONFIG, type GptConfig } from "../../../src/kernels/model/config.js";
import { poolRun } from "../../../src/kernels/model/local-run.js";
import { initParams, modelParamSpecs } from "../../../src/kernels/model/params.js";
import { ResidentStage } from "../../../src/kernels/model/resident.js";
import { StageRunner } from "../../../src/kernels/model/runner.js";
import { buildStage } from "../../../src/kernels/model/stage.js";
import { AdamW } from "../../../src/kernels/optim/adamw.js";
import { KernelPool } from "../../../src/kernels/runtime/pool.js";

const c: GptConfig = { ...DEFAULT_CONFIG, dModel: 32, nHead: 2, nLayer: 2, seq: 16, batch: 4, stages: 2, bottleneck: 4 };
const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("ResidentStage", () => {
  let pool: KernelPool;
  beforeAll(async () => {
    pool = await KernelPool.create({ workers: 2, threadsPerWorker: 1 });
  });
  afterAll(() => pool.close());

  it("computes the same bytes as StageRunner while activations stay in the worker", async () => {
    const x = batch(sotuCorpus().train, 1, 0, { batchSize: c.batch, seq: c.seq });
    const ids = { dims: x.dims, data: x.inputs };
    const targets = { dims: x.dims, data: x.targets };
    const params = initParams(c, modelParamSpecs(c));
    const models = [buildStage(c, 0), buildStage(c, 1)] as const;

    const run = poolRun(pool, "plain");
    const r0 = new StageRunner(models[0], run.run);
    const r1 = new StageRunner(models[1], run.run);
    const f0 = await r0.forward(params, ids);
    const f1 = await r1.forward(params, f0.output, targets);
    const b1 = await r1.backward(params, f0.output, { saved: f1.saved, targets });
    const b0 = await r0.backward(params, ids, { saved: f0.saved, gradOutput: b1.gradInput as NonNullable<typeof b1.gradInput> });

    const s0 = new ResidentStage(pool, models[0], "res0");
    const s1 = new ResidentStage(pool, models[1], "res1");
    const y = await s0.forward("mb", params, ids);
    const loss = await s1.forward("mb", params, y, targets);
    const c1 = await s1.backward("mb");
    const c0 = await s0.backward("mb", { gradOutput: c1.gradInput as NonNullable<typeof c1.gradInput> });

    expect(bytes(y.data as Float32Array).equals(bytes(f0.output.data as Float32Array))).toBe(true);
    expect(loss.data[0]).toBe(f1.output.data[0]);
    expect(bytes(c1.gradInput?.data as Float32Array).equals(bytes(b1.gradInput?.data as Float32Array))).toBe(true);
    for (const [k, g] of Object.entries(b0.gradParams)) expect(bytes(c0.gradParams[k] as Float32Array).equals(bytes(g))).toBe(true);
    for (const [k, g] of Object.entries(b1.gradParams)) expect(bytes(c1.gradParams[k] as Float32Array).equals(bytes(g))).toBe(true);
    expect(pool.stashCount).toBe(0);

    await s0.forward("gone", params, ids);
    expect(pool.stashCount).toBe(1);
    await s0.drop("gone");
    expect(pool.stashCount).toBe(0);
    await expect(s0.backward("gone", { gradOutput: c1.gradInput as NonNullable<typeof c1.gradInput> })).rejects.toMatchObject({ reason: "unknown-stash" });
    await Promise.all([run.release(), s0.release(), s1.release()]);
  });

  it("backpropagates through the weights its forward saw, not the caller's later ones", async () => {
    const x = batch(sotuCorpus().train, 1, 1, { batchSize: c.batch, seq: c.seq });
    const ids = { dims: x.dims, data: x.inputs };
    const targets = { dims: x.dims, data: x.targets };
    const params = initParams(c, modelParamSpecs(c));
    const last = new ResidentStage(pool, buildStage(c, 1), "late");
    const first = new ResidentStage(pool, buildStage(c, 0), "early");
    const y = await first.forward("a", params, ids);
    await last.forward("a", params, y, targets);
    const ref = await last.backward("a");
    await last.forward("b", params, y, targets);
    for (const v of Object.values(params)) v.fill(0.5); // an optimizer step between forward and backward
    const got = await last.backward("b");
    for (const [k, g] of Object.entries(ref.gradParams)) expect(bytes(got.gradParams[k] as Float32Array).equals(bytes(g))).toBe(true);
    await first.drop("a");
    await Promise.all([first.release(), last.release()]);
  });

  describe("with a parameter set kept in the worker", () => {
    const x = batch(sotuCorpus().train, 1, 2, { batchSize: c.batch, seq: c.seq });
    const ids = { dims: x.dims, data: x.inputs };
    const targets = { dims: x.dims, data: x.targets };
    const m0 = buildStage(c, 0, { activations: "recompute" });
    const m1 = buildStage(c, 1, { activations: "recompute" });
    const flatOf = (specs: typeof m0.params, p: Record<string, Float32Array>): Float32Array => {
      const out = new Float32Array(specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0));
      let at = 0;
      for (const s of specs) {
        out.set(p[s.name] as Float32Array, at);
        at += (p[s.name] as Float32Array).length;
      }
      return out;
    };
    const setSpec = (specs: typeof m0.params) => ({ tensors: specs.map((s) => ({ name: s.name, dims: s.shape })) });

    it("computes the same bytes as sending the parameters, sums gradients there and steps AdamW like the main thread", async () => {
      const params = initParams(c, modelParamSpecs(c));
      const s0 = new ResidentStage(pool, m0, "set0");
      const s1 = new ResidentStage(pool, m1, "set1");
      await Promise.all([s0.ready(), s1.ready()]);
      await pool.setParams("p0", setSpec(m0.params), flatOf(m0.params, params), { colocate: s0.colocation });
      await pool.setParams("p1", setSpec(m1.params), flatOf(m1.params, params), { colocate: s1.colocation });

      // Reference: parameters sent with each run, gradients returned.
      const y = await s0.forward("ref", params, ids);
      const r1 = await s1.step(params, y, targets);
      const r0 = await s0.backward("ref", { gradOutput: r1.gradInput as NonNullable<typeof r1.gradInput> });
      // Resident: two microbatches' gradients summed in the worker.
      for (const mb of ["a", "b"]) {
        const yr = await s0.forward(mb, { resident: "p0" }, ids);
        expect(bytes(yr.data as Float32Array).equals(bytes(y.data as Float32Array))).toBe(true);
        const q1 = await s1.step({ resident: "p1" }, yr, targets, { accumulate: "p1" });
        expect(q1.loss).toBe(r1.loss);
        expect(q1.gradParams).toEqual({});
        expect(bytes(q1.gradInput?.data as Float32Array).equals(bytes(r1.gradInput?.data as Float32Array))).toBe(true);
        await s0.backward(mb, { gradOutput: q1.gradInput as NonNullable<typeof q1.gradInput>, accumulate: "p0" });
      }
      const sizes = m0.params.map((p) => p.shape.reduce((a, b) => a * b, 1));
      const create = { sizes, config: { lr: 0.01, weightDecay: 0.1, clipNorm: 1 }, decay: m0.params.map((p) => p.shape.length >= 2) };
      await expect(pool.optimize("p0", { microbatches: 3, lr: 0.01, create })).rejects.toMatchObject({ reason: "bad-tensor" }); // it summed 2
      await pool.optimize("p0", { microbatches: 2, lr: 0.01, create });
      // The same step on this thread: the mean of two equal gradients is the gradient.
      const main = m0.params.map((p) => (params[p.name] as Float32Array).slice());
      const mean = m0.params.map((p) => Float32Array.from(r0.gradParams[p.name] as Float32Array, (g) => (g + g) / 2));
      new AdamW(sizes, create.config, create.decay).step(main, mean, 0.01);
      const got = await pool.getParams("p0");
      expect(bytes(got).equals(bytes(flatOf(m0.params, Object.fromEntries(m0.params.map((p, i) => [p.name, main[i] as Float32Array])))))).toBe(true);
      await Promise.all([pool.forgetParams("p0"), pool.forgetParams("p1"), s0.release(), s1.release()]);
      await expect(pool.getParams("p0")).rejects.toMatchObject({ reason: "unknown-model" });
    });

    /** A stage whose resident set `set` holds fresh weights, and the reference backward through those weights sent along. */
    const stashed = async (stage: string, set: string) => {
      const params = initParams(c, modelParamSpecs(c));
      const s0 = new ResidentStage(pool, m0, stage);
      await s0.ready();
      await pool.setParams(set, setSpec(m0.params), flatOf(m0.params, params), { colocate: s0.colocation });
      const grad = { dims: [c.batch * c.seq, c.bottleneck as number], data: new Float32Array(c.batch * c.seq * (c.bottleneck as number)).fill(0.01) };
      await s0.forward("ref", params, ids);
      const ref = await s0.backward("ref", { gradOutput: grad });
      return { params, s0, grad, ref };
    };

    it("keeps in a stash the weights its forward read, whatever the set holds by its backward", async () => {
      const { params, s0, grad, ref } = await stashed("keep0", "k0");
      await s0.forward("late", { resident: "k0" }, ids);
      await pool.setParams("k0", setSpec(m0.params), new Float32Array(flatOf(m0.params, params).length).fill(0.5)); // a step lands before the backward
      const late = await s0.backward("late", { gradOutput: grad });
      expect(Object.keys(ref.gradParams).length).toBe(m0.params.length);
      for (const [k, g] of Object.entries(ref.gradParams)) expect(bytes(late.gradParams[k] as Float32Array).equals(bytes(g))).toBe(true);
      await Promise.all([pool.forgetParams("k0"), s0.release()]);
    });

    it("keeps the weights its forward read through an AdamW step taken in the worker before its backward", async () => {
      const { s0, grad, ref } = await stashed("keep1", "k1");
      // Two leases in flight on the resident weights; the first one's backward and a step land before the second's backward.
      await s0.forward("first", { resident: "k1" }, ids);
      await s0.forward("late", { resident: "k1" }, ids);
      await s0.backward("first", { gradOutput: grad, accumulate: "k1" });
      const sizes = m0.params.map((q) => q.shape.reduce((a, b) => a * b, 1));
      const before = await pool.getParams("k1");
      await pool.optimize("k1", { microbatches: 1, lr: 0.01, create: { sizes, config: { lr: 0.01, weightDecay: 0.1, clipNorm: 1 }, decay: m0.params.map((q) => q.shape.length >= 2) } });
      expect(bytes(await pool.getParams("k1")).equals(bytes(before))).toBe(false); // the step moved the set's weights
      const late = await s0.backward("late", { gradOutput: grad });
      for (const [k, g] of Object.entries(ref.gradParams)) expect(bytes(late.gradParams[k] as Float32Array).equals(bytes(g)), k).toBe(true);
      expect(bytes(late.gradInput?.data as Float32Array ?? new Float32Array()).equals(bytes(ref.gradInput?.data as Float32Array ?? new Float32Array()))).toBe(true);
      await Promise.all([pool.forgetParams("k1"), s0.release()]);
    });

    it("places the models of stages loaded together on different workers", async () => {
      const a = new ResidentStage(pool, m0, "spread0");
      const b = new ResidentStage(pool, m1, "spread1");
      await Promise.all([a.ready(), b.ready()]);
      await pool.setParams("sa", setSpec(m0.params), new Float32Array(m0.params.reduce((n, p) => n + p.shape.reduce((x, y) => x * y, 1), 0)), { colocate: a.colocation });
      // A set colocated with stage 0 cannot feed stage 1 when they sit on different workers.
      await expect(pool.run(b.colocation, {}, undefined, { params: "sa" })).rejects.toMatchObject({ reason: "unknown-model" });
      await Promise.all([pool.forgetParams("sa"), a.release(), b.release()]);
    });
  });
});

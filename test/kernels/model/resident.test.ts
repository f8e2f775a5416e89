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
});

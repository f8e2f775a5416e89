// The worker-pool adapter runs stage models off the main thread with the same results as the
// in-process sessions.
import { afterAll, describe, expect, it } from "vitest";
import { localRun, poolRun } from "../../../src/kernels/model/local-run.js";
import { initParams, modelParamSpecs } from "../../../src/kernels/model/params.js";
import { StageRunner } from "../../../src/kernels/model/runner.js";
import { buildStage } from "../../../src/kernels/model/stage.js";
import { KernelPool } from "../../../src/kernels/runtime/pool.js";
import { batchOf, tiny } from "./helpers.js";

const local = localRun(1);
afterAll(() => local.release());

describe("poolRun", () => {
  it("runs a stage's forward and backward in a worker with the in-process results", async () => {
    const pool = await KernelPool.create({ workers: 1 });
    try {
      const viaPool = poolRun(pool);
      const m = buildStage(tiny, 0);
      const params = initParams(tiny, modelParamSpecs(tiny));
      const { ids } = batchOf(tiny, 2);
      const a = new StageRunner(m, viaPool.run);
      const b = new StageRunner(m, local.run);
      const fa = await a.forward(params, ids);
      const fb = await b.forward(params, ids);
      expect(Array.from(fa.output.data as Float32Array)).toEqual(Array.from(fb.output.data as Float32Array));
      const gradOutput = { dims: fa.output.dims, data: Float32Array.from(fa.output.data as Float32Array, (v) => v * 0.5) };
      const ga = await a.backward(params, ids, { saved: fa.saved, gradOutput });
      const gb = await b.backward(params, ids, { saved: fb.saved, gradOutput });
      expect(Array.from(ga.gradParams["wte"] ?? [])).toEqual(Array.from(gb.gradParams["wte"] ?? []));
      await viaPool.release();
    } finally {
      await pool.close();
    }
  });
});

// The exported inference model runs in plain onnxruntime (no Swarmline code) and reproduces the
// training graph's loss on the same weights.
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { eager, arr } from "../../../src/kernels/autodiff/eager.js";
import type { GptConfig } from "../../../src/kernels/model/config.js";
import { modelLogits } from "../../../src/kernels/model/gpt.js";
import { buildInference } from "../../../src/kernels/model/inference.js";
import { localRun } from "../../../src/kernels/model/local-run.js";
import { initParams, modelParamSpecs } from "../../../src/kernels/model/params.js";
import { wholeStep } from "../../../src/kernels/model/runner.js";
import { buildWhole } from "../../../src/kernels/model/stage.js";
import { relErr } from "../autodiff/gradcheck.js";
import { batchOf, tiny } from "./helpers.js";

const local = localRun(1);
afterAll(() => local.release());

describe("inference export", () => {
  it("runs in plain onnxruntime with weights baked in and matches the reference logits and the training loss", async () => {
    const c: GptConfig = { ...tiny, bottleneck: 4 };
    const params = initParams(c, modelParamSpecs(c));
    for (const v of Object.values(params)) for (let i = 0; i < v.length; i++) v[i] = (v[i] ?? 0) * 20; // make logits non-trivial
    const { ids, targets } = batchOf(c, 9);
    const session = await ort.InferenceSession.create(buildInference(c, params).bytes);
    expect(session.inputNames).toEqual(["ids"]);
    const out = await session.run({ ids: new ort.Tensor("int32", ids.data as Int32Array, [c.batch, c.seq]) });
    await session.release();
    const logits = out["logits"]?.data as Float32Array;
    const eagerParams = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, arr(modelParamSpecs(c).find((p) => p.name === k)?.shape ?? [], Float64Array.from(v))]));
    const ref = modelLogits(eager, c, eagerParams, arr([c.batch, c.seq], ids.data as Int32Array));
    expect(relErr(logits, ref.data)).toBeLessThan(1e-3);
    // mean cross-entropy from the exported logits equals the training graph's loss
    let nll = 0;
    for (let r = 0; r < c.batch * c.seq; r++) {
      const row = logits.subarray(r * c.vocab, (r + 1) * c.vocab);
      const mx = Math.max(...row);
      nll += mx + Math.log(row.reduce((a, b) => a + Math.exp(b - mx), 0)) - (row[Number(targets.data[r])] ?? 0);
    }
    const { loss } = await wholeStep(buildWhole(c), local.run, params, ids, targets);
    expect(Math.abs(nll / (c.batch * c.seq) - loss) / loss).toBeLessThan(1e-5);
  });
});

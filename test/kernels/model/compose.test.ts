// Composing every stage's forward and backward (fp32, ORT) reproduces the whole model's loss and
// gradients, with and without the IOTA bottleneck, whatever each stage keeps or recomputes.
import { afterAll, describe, expect, it } from "vitest";
import type { GptConfig } from "../../../src/kernels/model/config.js";
import { localRun } from "../../../src/kernels/model/local-run.js";
import { initParams, modelParamSpecs, type Params } from "../../../src/kernels/model/params.js";
import { StageRunner, wholeLoss, wholeStep, type RunModel } from "../../../src/kernels/model/runner.js";
import { buildStage, buildWhole, savedBytes, type Activations } from "../../../src/kernels/model/stage.js";
import type { Tensor } from "../../../src/kernels/runtime/tensor.js";
import { batchOf, tiny, worstGradErr } from "./helpers.js";

const local = localRun(1);
afterAll(() => local.release());

/** Runs the pipeline stage by stage: forward 0..S-1, then backward S-1..0. */
const composed = async (c: GptConfig, acts: readonly Activations[], run: RunModel, params: Params, ids: Tensor, targets: Tensor) => {
  const runners = acts.map((a, s) => new StageRunner(buildStage(c, s, { activations: a }), run));
  const inputs: Tensor[] = [ids];
  const saved: Record<string, Tensor>[] = [];
  for (const [s, r] of runners.entries()) {
    const f = await r.forward(params, inputs[s] as Tensor, s === c.stages - 1 ? targets : undefined);
    inputs.push(f.output);
    saved.push(f.saved);
  }
  const grads: Record<string, Float32Array> = {};
  let gradOutput: Tensor | undefined;
  for (let s = c.stages - 1; s >= 0; s--) {
    const b = await (runners[s] as StageRunner).backward(params, inputs[s] as Tensor, { saved: saved[s] ?? {}, gradOutput, targets });
    Object.assign(grads, b.gradParams);
    gradOutput = b.gradInput;
  }
  return { loss: Number(inputs[c.stages]?.data[0]), grads, boundary: inputs.slice(1, -1) };
};

describe("stage composition", () => {
  it("three uncompressed stages give the monolithic (stages: 1) model's loss and gradients", async () => {
    const mono = { ...tiny, stages: 1 };
    const params = initParams(tiny, modelParamSpecs(tiny));
    const { ids, targets } = batchOf(tiny, 3);
    const whole = await wholeStep(buildWhole(mono), local.run, params, ids, targets);
    const pipe = await composed(tiny, ["keep", "recompute", "keep"], local.run, params, ids, targets);
    expect(Object.keys(pipe.grads).sort()).toEqual(Object.keys(whole.gradParams).sort());
    expect(Math.abs(pipe.loss - whole.loss) / whole.loss).toBeLessThan(1e-6);
    expect(whole.loss).toBeGreaterThan(Math.log(tiny.vocab) * 0.9); // an untrained model is near uniform
    expect(worstGradErr(pipe.grads, whole.gradParams)).toBeLessThan(1e-4);
  });

  it("three stages with a bottleneck give the whole pipeline's loss and gradients, with b-wide boundaries", async () => {
    const c: GptConfig = { ...tiny, bottleneck: 4 };
    const params = initParams(c, modelParamSpecs(c));
    const { ids, targets } = batchOf(c, 4);
    const whole = await wholeStep(buildWhole(c), local.run, params, ids, targets);
    const pipe = await composed(c, ["recompute", "keep", "recompute"], local.run, params, ids, targets);
    for (const t of pipe.boundary) expect(t.dims).toEqual([c.batch * c.seq, 4]);
    expect(Math.abs(pipe.loss - whole.loss) / whole.loss).toBeLessThan(1e-6);
    expect(worstGradErr(pipe.grads, whole.gradParams)).toBeLessThan(1e-4);
    // the bottleneck layers are trained: their gradients are not zero
    for (const k of ["up1.w", "up2.w", "h0.mlp.proj.w", "h1.mlp.proj.w"]) expect(pipe.grads[k]?.some((v) => v !== 0)).toBe(true);
  });

  it("keeping activations saves forward tensors and skips the forward matmuls in backward", () => {
    const keep = buildStage(tiny, 1, { activations: "keep" });
    const recompute = buildStage(tiny, 1, { activations: "recompute" });
    expect(keep.saved.length).toBeGreaterThan(0);
    expect(recompute.saved).toEqual([]);
    expect(savedBytes(keep)).toBeGreaterThan(0);
    expect(savedBytes(recompute)).toBe(0);
    expect(keep.forward.outputs.map((o) => o.name)).toEqual(["y", ...keep.saved.map((s) => s.name)]);
    // recompute re-runs every forward matmul backward needs (all but the stage's last projection)
    const extra = recompute.backward.flops - keep.backward.flops;
    expect(extra).toBeGreaterThan(keep.forward.flops / 2);
    expect(extra).toBeLessThanOrEqual(keep.forward.flops);
  });

  it("writes gradients into caller buffers when given them, with the same values", async () => {
    const c = { ...tiny, stages: 1 };
    const w = buildWhole(c);
    const params = initParams(c, modelParamSpecs(c));
    const { ids, targets } = batchOf(c, 8);
    const fresh = await wholeStep(w, local.run, params, ids, targets);
    const into = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, new Float32Array(v.length)]));
    const reused = await wholeStep(w, local.run, params, ids, targets, into);
    expect(reused.gradParams["wte"]).toBe(into["wte"]);
    expect(await wholeLoss(w, local.run, params, ids, targets)).toBeCloseTo(fresh.loss, 6);
    expect(worstGradErr(reused.gradParams, fresh.gradParams)).toBe(0);
  });

  it("rejects a backward call without the saved activations it was built to take", async () => {
    const c = { ...tiny, stages: 1 };
    const r = new StageRunner(buildStage(c, 0, { activations: "keep" }), local.run);
    const params = initParams(c, modelParamSpecs(c));
    const { ids, targets } = batchOf(c, 5);
    await expect(r.backward(params, ids, { targets })).rejects.toThrow(/saved tensor/);
  });
});

describe("determinism", () => {
  it("gives bit-identical loss and gradients on every run of the same step (2 intra-op threads)", async () => {
    const two = localRun(2);
    try {
      const c: GptConfig = { ...tiny, stages: 2, bottleneck: 4, batch: 4 };
      const params = initParams(c, modelParamSpecs(c));
      const { ids, targets } = batchOf(c, 6);
      const w = buildWhole(c);
      const a = await wholeStep(w, two.run, params, ids, targets);
      const b = await wholeStep(w, two.run, params, ids, targets);
      expect(b.loss).toBe(a.loss);
      for (const [k, v] of Object.entries(a.gradParams)) expect(Buffer.from((b.gradParams[k] as Float32Array).buffer).equals(Buffer.from(v.buffer))).toBe(true);
    } finally {
      await two.release();
    }
  });
});

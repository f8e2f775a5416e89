// IOTA's learned bottleneck: boundaries carry b-wide activations and gradients, and the whole
// compressed pipeline trains end to end through per-stage forward and backward runs.
import { afterAll, describe, expect, it } from "vitest";
import { decode, encode } from "../../../src/kernels/codec/wire.js";
import { boundaryShape, boundaryWireDims, COMPRESSED_CONFIG, uncompressedBoundaryBytes, type GptConfig } from "../../../src/kernels/model/config.js";
import { localRun } from "../../../src/kernels/model/local-run.js";
import { initParams, modelParamSpecs } from "../../../src/kernels/model/params.js";
import { StageRunner } from "../../../src/kernels/model/runner.js";
import { buildStage } from "../../../src/kernels/model/stage.js";
import { AdamW } from "../../../src/kernels/optim/adamw.js";
import type { Tensor } from "../../../src/kernels/runtime/tensor.js";
import { batchOf, tiny } from "./helpers.js";

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] ?? 0))), 0);

const local = localRun(1);
afterAll(() => local.release());

describe("IOTA bottleneck", () => {
  it("makes every stage boundary b wide in both directions", () => {
    const c: GptConfig = { ...tiny, bottleneck: 2 };
    for (let s = 0; s < c.stages; s++) {
      const m = buildStage(c, s);
      if (s > 0) expect(m.input.shape).toEqual([c.batch * c.seq, 2]);
      if (s < c.stages - 1) expect(m.output.shape).toEqual([c.batch * c.seq, 2]);
      if (s > 0) expect(m.backward.outputs.find((o) => o.name === "grad_x")?.shape).toEqual([c.batch * c.seq, 2]);
    }
  });

  it("sends the suggested compressed config's real boundary activation at >= 128x (int8 wire codec)", async () => {
    const c = COMPRESSED_CONFIG;
    const params = initParams(c, modelParamSpecs(c));
    const { output } = await new StageRunner(buildStage(c, 0), local.run).forward(params, batchOf(c, 1).ids);
    expect(output.dims).toEqual(boundaryShape(c));
    const wire = encode({ dims: boundaryWireDims(c), data: output.data as Float32Array }, "int8");
    const ratio = uncompressedBoundaryBytes(c) / wire.length;
    expect(ratio).toBeGreaterThanOrEqual(128);
    const back = decode(wire);
    const scale = Math.max(...Array.from(output.data as Float32Array, Math.abs));
    expect(maxAbsDiff(back.data, output.data as Float32Array)).toBeLessThan(scale / 100);
  });

  it("trains end to end through two stages with b = 2: loss on a periodic text falls below a third of its start", async () => {
    const c: GptConfig = { ...tiny, nLayer: 2, stages: 2, bottleneck: 2, seq: 12 };
    const runners = [0, 1].map((s) => new StageRunner(buildStage(c, s, { activations: s === 0 ? "keep" : "recompute" }), local.run));
    const params = initParams(c, modelParamSpecs(c));
    const names = Object.keys(params);
    const opt = new AdamW(names.map((k) => params[k]?.length ?? 0), { lr: 1e-2 });
    const text = Int32Array.from({ length: c.batch * c.seq + c.batch }, (_, i) => [3, 1, 4, 1, 5, 9, 2, 6][i % 8] ?? 0);
    const ids: Tensor = { dims: [c.batch, c.seq], data: Int32Array.from({ length: c.batch * c.seq }, (_, i) => text[i + Math.floor(i / c.seq)] ?? 0) };
    const targets: Tensor = { dims: [c.batch, c.seq], data: Int32Array.from({ length: c.batch * c.seq }, (_, i) => text[i + Math.floor(i / c.seq) + 1] ?? 0) };
    const [r0, r1] = runners as [StageRunner, StageRunner];
    const losses: number[] = [];
    for (let step = 0; step < 60; step++) {
      const f0 = await r0.forward(params, ids);
      const f1 = await r1.forward(params, f0.output, targets);
      losses.push(Number(f1.output.data[0]));
      const b1 = await r1.backward(params, f0.output, { targets });
      const b0 = await r0.backward(params, ids, { saved: f0.saved, gradOutput: b1.gradInput });
      const grads = { ...b0.gradParams, ...b1.gradParams };
      opt.step(names.map((k) => params[k] as Float32Array), names.map((k) => grads[k] as Float32Array));
    }
    expect(losses[0]).toBeGreaterThan(2);
    expect(losses[losses.length - 1]).toBeLessThan((losses[0] ?? 0) / 3);
  });
});

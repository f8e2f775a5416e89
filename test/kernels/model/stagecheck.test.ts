// Whole-stage gradient checks in float64: each stage's ORT backward (grad_x and every parameter
// gradient) against central differences of the eager float64 reference of the same stage.
import { describe, expect, it } from "vitest";
import { arr, eager, type Arr } from "../../../src/kernels/autodiff/eager.js";
import type { GptConfig } from "../../../src/kernels/model/config.js";
import { stageForward } from "../../../src/kernels/model/gpt.js";
import { stageParamSpecs } from "../../../src/kernels/model/params.js";
import { Rng } from "../../../src/kernels/model/rng.js";
import { buildStage, gradName } from "../../../src/kernels/model/stage.js";
import { numel } from "../../../src/kernels/autodiff/shape.js";
import { relErr, runOrt } from "../autodiff/gradcheck.js";

const c: GptConfig = { vocab: 11, seq: 4, dModel: 8, nHead: 2, nLayer: 3, stages: 3, bottleneck: 3, batch: 2, eps: 1e-5, seed: 1 };

/** Large random parameters (std 0.3; LayerNorm gains near 1) so every nonlinearity is exercised. */
const randomParams = (s: number, rng: Rng): Record<string, Arr> =>
  Object.fromEntries(stageParamSpecs(c, s).map((p) => [p.name, arr(p.shape, Float64Array.from({ length: numel(p.shape) }, () => (p.init.kind === "ones" ? 1 : 0) + 0.3 * rng.normal()))]));

const check = async (s: number): Promise<Record<string, number>> => {
  const rng = new Rng(100 + s);
  const params = randomParams(s, rng);
  const n = c.batch * c.seq;
  const ids = arr([c.batch, c.seq], Int32Array.from({ length: n }, () => rng.int(c.vocab)));
  const targets = arr([c.batch, c.seq], Int32Array.from({ length: n }, () => rng.int(c.vocab)));
  const input = s === 0 ? ids : arr([n, 3], Float64Array.from({ length: n * 3 }, () => rng.normal()));
  const last = s === c.stages - 1;
  const y0 = stageForward(eager, c, s, params, input, last ? targets : undefined);
  const r = arr(y0.shape, Float64Array.from({ length: y0.data.length }, () => (last ? 1 : rng.normal())));
  const objective = (p: Record<string, Arr>, x: Arr): number => {
    const y = stageForward(eager, c, s, p, x, last ? targets : undefined).data;
    let acc = 0;
    for (let i = 0; i < y.length; i++) acc += (y[i] ?? 0) * (r.data[i] ?? 0);
    return acc;
  };
  const m = buildStage(c, s, { activations: "recompute", float: "float64" });
  const feeds: Record<string, Arr> = { ...params, [m.input.name]: input };
  if (last) feeds["targets"] = targets;
  else feeds["grad_y"] = r;
  const out = await runOrt(m.backward, feeds, "float64");
  const fwd = await runOrt(m.forward, feeds.grad_y === undefined ? feeds : Object.fromEntries(Object.entries(feeds).filter(([k]) => k !== "grad_y")), "float64");
  const h = 1e-5;
  const fd = (base: Arr, at: (a: Arr) => number): Float64Array =>
    Float64Array.from({ length: base.data.length }, (_, j) => {
      const plus = Float64Array.from(base.data);
      const minus = Float64Array.from(base.data);
      plus[j] = (plus[j] ?? 0) + h;
      minus[j] = (minus[j] ?? 0) - h;
      return (at(arr(base.shape, plus)) - at(arr(base.shape, minus))) / (2 * h);
    });
  const errs: Record<string, number> = { forward: relErr(fwd[m.output.name] ?? [], y0.data) };
  for (const [name, value] of Object.entries(params)) errs[name] = relErr(out[gradName(name)] ?? [], fd(value, (v) => objective({ ...params, [name]: v }, input)));
  if (s > 0) errs["x"] = relErr(out["grad_x"] ?? [], fd(input, (v) => objective(params, v)));
  return errs;
};

describe("whole-stage gradient check (float64, bottleneck b=3 of d=8)", () => {
  for (const [s, what] of [[0, "embedding + block + bottleneck"], [1, "up-projection + block + bottleneck"], [2, "up-projection + block + head + loss"]] as const) {
    it(`stage ${s} (${what}): every gradient within 1e-4 of finite differences`, async () => {
      const errs = await check(s);
      // ORT's LayerNormalization keeps its statistics in fp32 even on fp64 inputs (stash_type),
      // so an fp64 stage forward agrees with the reference to ~1e-6, not 1e-12.
      expect(errs["forward"]).toBeLessThan(1e-5);
      const worst = Object.entries(errs).filter(([k]) => k !== "forward").sort((a, b) => b[1] - a[1]);
      expect(worst.length).toBeGreaterThan(12);
      expect(worst[0]?.[1]).toBeLessThanOrEqual(1e-4);
    });
  }
});

// Shared fixtures for the model tests: tiny configs, seeded token batches, gradient comparison.
import type { GptConfig } from "../../../src/kernels/model/config.js";
import { Rng } from "../../../src/kernels/model/rng.js";
import type { Tensor } from "../../../src/kernels/runtime/tensor.js";
import { relErr } from "../autodiff/gradcheck.js";

/** A 3-stage toy GPT: small enough for finite differences, with every kind of stage. */
export const tiny: GptConfig = { vocab: 16, seq: 8, dModel: 16, nHead: 2, nLayer: 3, stages: 3, bottleneck: null, batch: 2, eps: 1e-5, seed: 7 };

/** Seeded int32 ids and next-token targets [B,T]. */
export const batchOf = (c: GptConfig, seed: number): { ids: Tensor; targets: Tensor } => {
  const rng = new Rng(seed);
  const stream = Int32Array.from({ length: c.batch * c.seq + 1 }, () => rng.int(c.vocab));
  return { ids: { dims: [c.batch, c.seq], data: stream.slice(0, -1) }, targets: { dims: [c.batch, c.seq], data: stream.slice(1) } };
};

/** Worst relative error (relErr) over every named gradient; throws if a name is missing. */
export const worstGradErr = (a: Record<string, Float32Array>, b: Record<string, Float32Array>): number => {
  let worst = 0;
  for (const [k, v] of Object.entries(b)) {
    const u = a[k];
    if (u === undefined) throw new Error(`missing gradient ${k}`);
    worst = Math.max(worst, relErr(u, v));
  }
  return worst;
};

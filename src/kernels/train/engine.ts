// How one training step computes loss and gradients. `wholeEngine`: the fused monolithic model.
// `pipelineEngine`: the stages chained in one process, every boundary tensor (forward
// activations and backward gradients) encoded and decoded through the wire codec, as a swarm
// would send them; it also counts the wire bytes against the fp32 uncompressed bytes.
import { fp32Bytes, type WireDtype } from "../codec/format.js";
import { decode, encode } from "../codec/wire.js";
import { tokens, type GptConfig } from "../model/config.js";
import type { Params } from "../model/params.js";
import { StageRunner, wholeStep, type RunModel } from "../model/runner.js";
import { buildStage, buildWhole } from "../model/stage.js";
import type { Tensor } from "../runtime/tensor.js";

/** Ids and targets of one microbatch, int32 [B,T]. */
export type StepBatch = { readonly ids: Tensor; readonly targets: Tensor };

/** Boundary traffic of one step: bytes sent and what fp32 d_model activations would have cost. */
export type Traffic = { readonly wireBytes: number; readonly fp32Bytes: number };

/** Computes loss and parameter gradients of a microbatch, and the loss alone for evaluation. */
export type Engine = {
  readonly step: (params: Params, b: StepBatch) => Promise<{ loss: number; grads: Record<string, Float32Array>; traffic: Traffic }>;
  readonly loss: (params: Params, b: StepBatch) => Promise<number>;
};

/** The monolithic model: one fused forward+backward run per step. */
export const wholeEngine = (c: GptConfig, run: RunModel): Engine => {
  const w = buildWhole(c);
  return {
    step: async (params, b) => {
      const r = await wholeStep(w, run, params, b.ids, b.targets);
      return { loss: r.loss, grads: r.gradParams, traffic: { wireBytes: 0, fp32Bytes: 0 } };
    },
    loss: async (params, b) => {
      const out = await run(w.loss, { ...paramsFeeds(w.params.map((p) => p.name), params, w.params.map((p) => p.shape)), ids: b.ids, targets: b.targets });
      return Number(out["loss"]?.data[0]);
    },
  };
};

const paramsFeeds = (names: readonly string[], params: Params, shapes: readonly (readonly number[])[]): Record<string, Tensor> =>
  Object.fromEntries(names.map((n, i) => [n, { dims: shapes[i] ?? [], data: params[n] ?? new Float32Array(0) }]));

/** Sends a boundary tensor through the codec; returns what the receiver decodes and the bytes. */
const wire = (t: Tensor, quant: WireDtype): { tensor: Tensor; bytes: number } => {
  if (!(t.data instanceof Float32Array)) throw new TypeError("boundary tensors are float32");
  const buf = encode({ dims: t.dims, data: t.data }, quant);
  const d = decode(buf, { expectDims: t.dims });
  return { tensor: { dims: d.dims, data: d.data }, bytes: buf.length };
};

/** All stages in one process with the codec at every boundary, both directions. */
export const pipelineEngine = (c: GptConfig, run: RunModel, quant: WireDtype): Engine => {
  const runners = Array.from({ length: c.stages }, (_, s) => new StageRunner(buildStage(c, s), run));
  const uncompressed = fp32Bytes([tokens(c), c.dModel]);
  const forward = async (params: Params, b: StepBatch) => {
    const inputs: Tensor[] = [];
    const saved: Record<string, Tensor>[] = [];
    let x: Tensor = b.ids;
    let bytes = 0;
    let loss = NaN;
    for (const [s, r] of runners.entries()) {
      const last = s === runners.length - 1;
      inputs.push(x);
      const f = await r.forward(params, x, last ? b.targets : undefined);
      saved.push({ ...f.saved });
      if (last) loss = Number(f.output.data[0]);
      else {
        const w = wire(f.output, quant);
        x = w.tensor;
        bytes += w.bytes;
      }
    }
    return { inputs, saved, loss, bytes };
  };
  return {
    step: async (params, b) => {
      const f = await forward(params, b);
      const grads: Record<string, Float32Array> = {};
      let gradOutput: Tensor | undefined;
      let bytes = f.bytes;
      for (let s = runners.length - 1; s >= 0; s--) {
        const r = runners[s] as StageRunner;
        const last = s === runners.length - 1;
        const bw = await r.backward(params, f.inputs[s] as Tensor, {
          saved: f.saved[s] ?? {},
          ...(last ? { targets: b.targets } : { gradOutput: gradOutput as Tensor }),
        });
        Object.assign(grads, bw.gradParams);
        if (s > 0) {
          if (bw.gradInput === undefined) throw new Error(`stage ${s} returned no input gradient`);
          const w = wire(bw.gradInput, quant);
          gradOutput = w.tensor;
          bytes += w.bytes;
        }
      }
      const boundaries = 2 * (runners.length - 1);
      return { loss: f.loss, grads, traffic: { wireBytes: bytes, fp32Bytes: boundaries * uncompressed } };
    },
    loss: async (params, b) => (await forward(params, b)).loss,
  };
};

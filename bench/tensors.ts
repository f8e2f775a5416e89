// Tensors for the kernel benchmarks: seeded fills and preallocated outputs, as a kernel worker gives them.
import type { EmittedModel } from "../src/kernels/autodiff/emit.js";
import type { Tensor } from "../src/kernels/runtime/tensor.js";

/** Small seeded values (an LCG) for a tensor of shape `dims`: the same numbers in every run. */
export const filled = (dims: readonly number[], seed: number): Float32Array => {
  let s = seed >>> 0;
  return Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 0.1;
  });
};

/** Preallocated float outputs of a model (ORT-allocated large outputs are ~10x slower). */
export const outputsOf = (m: EmittedModel): Record<string, Tensor> =>
  Object.fromEntries(m.outputs.filter((o) => o.dtype === "float32").map((o) => [o.name, { dims: o.shape, data: new Float32Array(o.shape.reduce((a, b) => a * b, 1)) }]));

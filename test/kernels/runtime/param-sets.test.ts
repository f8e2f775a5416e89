// Parameter sets in a kernel worker: summed gradients, an AdamW step over their mean, and the
// optimizer state saved and restored (a joiner taking over a stage's moments) with the same bytes.
import { describe, expect, it } from "vitest";
import { ParamSet } from "../../../src/kernels/runtime/param-sets.js";

const spec = { tensors: [{ name: "w", dims: [3, 2] }, { name: "b", dims: [2] }] };
const create = { sizes: [6, 2], config: { lr: 0.01, weightDecay: 0.1, clipNorm: 1 }, decay: [true, false] };
const grads = (x: number) => new Map([["w", { dims: [3, 2], data: Float32Array.from({ length: 6 }, (_, i) => x * (i - 2.5)) }], ["b", { dims: [2], data: Float32Array.of(x, -x) }]]);
const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("parameter sets", () => {
  it("step over the mean of the summed gradients, refusing a miscounted step", () => {
    const a = new ParamSet(spec);
    a.load(Float32Array.of(1, 2, 3, 4, 5, 6, 0.5, -0.5));
    a.accumulate(grads(1));
    a.accumulate(grads(3));
    expect(() => a.step(create, 3, 0.01)).toThrow(/2 were accumulated/);
    const b = new ParamSet(spec);
    b.load(Float32Array.of(1, 2, 3, 4, 5, 6, 0.5, -0.5));
    b.accumulate(grads(2)); // the mean of 1 and 3
    a.step(create, 2, 0.01);
    b.step(create, 1, 0.01);
    expect(bytes(a.flat).equals(bytes(b.flat))).toBe(true);
  });

  it("carry their AdamW state over: a restored set steps exactly like the original", () => {
    const a = new ParamSet(spec);
    a.load(Float32Array.of(1, 2, 3, 4, 5, 6, 0.5, -0.5));
    expect(a.saveOptimizer()).toBeUndefined(); // no step yet
    for (const x of [1, -2, 0.5]) {
      a.accumulate(grads(x));
      a.step(create, 1, 0.01);
    }
    const state = a.saveOptimizer() as Uint8Array;
    const b = new ParamSet(spec);
    b.load(a.flat);
    expect(b.restoreOptimizer(create, state)).toBe(3);
    a.accumulate(grads(0.7));
    b.accumulate(grads(0.7));
    a.step(create, 1, 0.01);
    b.step(undefined, 1, 0.01);
    expect(bytes(b.flat).equals(bytes(a.flat))).toBe(true);
  });

  it("refuse an optimizer state of other shapes or with non-finite moments", () => {
    const a = new ParamSet(spec);
    a.accumulate(grads(1));
    a.step(create, 1, 0.01);
    const state = a.saveOptimizer() as Uint8Array;
    const other = new ParamSet({ tensors: [{ name: "w", dims: [8] }] });
    expect(() => other.restoreOptimizer({ ...create, sizes: [8], decay: [true] }, state)).toThrow(/does not fit/);
    const poisoned = state.slice();
    new DataView(poisoned.buffer).setFloat32(poisoned.length - 4, Number.NaN, true); // the last second moment
    expect(() => new ParamSet(spec).restoreOptimizer(create, poisoned)).toThrow(/non-finite or negative/);
  });
});

// A miner's weights live in its kernel worker, where merges are blended in (ParamSet.blend); the
// pure protocol (and the deterministic simulator) adopt results with adoptPartition. Same bytes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ParamSet } from "../../../src/kernels/runtime/param-sets.js";
import { adoptPartition } from "../../../src/machines/protocol/index.js";

const f32 = fc.float({ noNaN: true, noDefaultInfinity: true, min: -8, max: 8 });

describe("blending a merge into worker-held weights", () => {
  it("gives adoptPartition's bytes, with and without a base", () => {
    fc.assert(fc.property(fc.array(f32, { minLength: 4, maxLength: 40 }), fc.array(f32, { minLength: 4, maxLength: 40 }), fc.boolean(), (w0, b0, overlap) => {
      const n = Math.min(w0.length, b0.length);
      const w = Float32Array.from(w0.slice(0, n));
      const base = Float32Array.from(b0.slice(0, n), (x) => x / 3);
      const cut = n >> 1;
      const values = Float32Array.from({ length: n - cut }, (_, i) => (w[cut + i] as number) * 0.5 + 0.25);
      const set = new ParamSet({ tensors: [{ name: "w", dims: [n] }] });
      set.load(w);
      set.blend([{ start: cut, values }], overlap ? base : undefined);
      const expected = w.slice();
      adoptPartition(expected, cut, values, overlap ? base : undefined);
      expect(Buffer.from(set.flat.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    }));
  });

  it("blendToConsensus blends as blend does and returns the base with the parts written in", () => {
    fc.assert(fc.property(fc.array(f32, { minLength: 4, maxLength: 40 }), fc.array(f32, { minLength: 4, maxLength: 40 }), (w0, b0) => {
      const n = Math.min(w0.length, b0.length);
      const w = Float32Array.from(w0.slice(0, n));
      const base = Float32Array.from(b0.slice(0, n));
      const cut = n >> 1;
      const values = Float32Array.from({ length: n - cut }, (_, i) => (base[cut + i] as number) * 0.5 - 1);
      const set = new ParamSet({ tensors: [{ name: "w", dims: [n] }] });
      set.load(w);
      const expectedWeights = w.slice();
      adoptPartition(expectedWeights, cut, values, base.slice());
      const expectedConsensus = base.slice();
      expectedConsensus.set(values, cut);
      const consensus = set.blendToConsensus([{ start: cut, values }], base);
      expect(consensus).toBe(base);
      expect(Buffer.from(consensus.buffer).equals(Buffer.from(expectedConsensus.buffer))).toBe(true);
      expect(Buffer.from(set.flat.buffer).equals(Buffer.from(expectedWeights.buffer))).toBe(true);
    }));
  });

  it("refuses values outside the set and a base of the wrong size", () => {
    const set = new ParamSet({ tensors: [{ name: "w", dims: [4] }] });
    expect(() => set.blend([{ start: 3, values: new Float32Array(2) }], undefined)).toThrow(/outside/);
    expect(() => set.blend([{ start: 0, values: new Float32Array(2) }], new Float32Array(3))).toThrow(/base/);
  });
});

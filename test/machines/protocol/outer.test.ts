// The reducer's outer step (DiLoCo): the same bytes as the kernels' OuterNesterov, order-free,
// and plain averaging as its lr 1 / momentum 0 limit.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OuterNesterov, pseudoGradient } from "../../../src/kernels/optim/nesterov.js";
import { digestBytes, f32Bytes, outerStep, packOuter, reduceResult, resultParams, unpackOuter, weightedAverage } from "../../../src/machines/protocol/index.js";

const vec = (n: number) => fc.array(fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a));

describe("outerStep", () => {
  it("gives the kernels' pseudoGradient + OuterNesterov bytes over several merges", () => {
    fc.assert(fc.property(vec(7), vec(7), vec(7), vec(7), (a, m1, m2, m3) => {
      const rule = { lr: 0.7, momentum: 0.9 };
      const kernel = new OuterNesterov([7], rule);
      const theta = a.slice();
      let anchor: Float32Array = a.slice();
      let u: Float32Array | null = null;
      for (const merged of [m1, m2, m3]) {
        kernel.step([theta], pseudoGradient([theta], [merged]));
        const r = outerStep(rule, anchor, u, merged);
        anchor = r.params;
        u = r.momentum;
        expect(digestBytes(f32Bytes(r.params))).toBe(digestBytes(f32Bytes(theta)));
      }
    }));
  });

  it("is plain averaging at lr 1 and momentum 0, up to one float32 rounding", () => {
    const r = outerStep({ lr: 1, momentum: 0 }, Float32Array.of(1, 2, 3), null, Float32Array.of(0.5, 2.25, -1));
    expect([...r.params]).toEqual([0.5, 2.25, -1]);
  });

  it("refuses mismatched lengths", () => {
    expect(() => outerStep({ lr: 1, momentum: 0 }, new Float32Array(2), null, new Float32Array(3))).toThrow(RangeError);
  });
});

describe("reduceResult", () => {
  it("yields the same bytes for any order of contributions, with or without an outer basis", () => {
    fc.assert(fc.property(vec(5), vec(5), vec(5), vec(5), (x, y, z, anchor) => {
      const cs = [{ miner: "b", samples: 2, data: x }, { miner: "a", samples: 1, data: y }, { miner: "c", samples: 3, data: z }];
      const basis = { rule: { lr: 0.7, momentum: 0.9 }, anchor, momentum: null };
      expect(digestBytes(f32Bytes(reduceResult(cs)))).toBe(digestBytes(f32Bytes(reduceResult(cs.slice().reverse()))));
      expect(digestBytes(f32Bytes(reduceResult(cs, basis)))).toBe(digestBytes(f32Bytes(reduceResult([cs[2], cs[0], cs[1]] as typeof cs, basis))));
    }));
  });

  it("packs parameters then momentum under an outer rule, and adopters read the parameter half", () => {
    const cs = [{ miner: "a", samples: 1, data: Float32Array.of(1, 1) }, { miner: "b", samples: 1, data: Float32Array.of(3, 5) }];
    const plain = reduceResult(cs);
    expect([...plain]).toEqual([...weightedAverage(cs)]);
    const packed = reduceResult(cs, { rule: { lr: 0.5, momentum: 0.5 }, anchor: Float32Array.of(0, 0), momentum: null });
    expect(packed.length).toBe(4);
    const { params, momentum } = unpackOuter(packed, 2);
    expect([...momentum]).toEqual([-2, -3]); // Δ = anchor − mean
    expect([...params]).toEqual([...(resultParams(packed, 2, true) ?? [])]);
    expect([...packOuter({ params, momentum })]).toEqual([...packed]);
    expect(resultParams(packed, 2, false)).toBeUndefined();
    expect(resultParams(plain, 2, true)).toBeUndefined();
  });
});

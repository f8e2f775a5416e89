// Gradient checks for every op: ORT float64 analytic VJPs against central finite differences of
// the eager float64 reference (rel err <= 1e-4), forward values against the reference.
import { describe, expect, it } from "vitest";
import { checkOp, type InputSpec, type OpFn, relErr } from "./gradcheck.js";

const cases: readonly [string, OpFn, readonly InputSpec[]][] = [
  ["embedding gather (repeated ids accumulate)", (o, [t, ids]) => o.gather(t!, ids!), [{ shape: [5, 3] }, { shape: [2, 4], ints: 5 }]],
  ["residual add", (o, [a, b]) => o.add(a!, b!), [{ shape: [3, 4] }, { shape: [3, 4] }]],
  ["broadcast add (bias / position embedding)", (o, [a, b]) => o.add(a!, b!), [{ shape: [2, 3, 4] }, { shape: [3, 4] }]],
  ["scale", (o, [a]) => o.scale(a!, -0.37), [{ shape: [3, 4] }]],
  ["linear with bias (Gemm)", (o, [x, w, b]) => o.linear(x!, w!, b!), [{ shape: [3, 4] }, { shape: [4, 5] }, { shape: [5] }]],
  ["linear without bias", (o, [x, w]) => o.linear(x!, w!), [{ shape: [3, 4] }, { shape: [4, 2] }]],
  ["batched matmul", (o, [a, b]) => o.matmul(a!, b!), [{ shape: [2, 2, 3, 4] }, { shape: [2, 2, 4, 3] }]],
  ["reshape and transpose", (o, [a]) => o.transpose(o.reshape(a!, [2, 3, 4]), [2, 0, 1]), [{ shape: [6, 4] }]],
  ["split (one part unused)", (o, [a]) => { const [p, q] = o.split(a!, 1, [2, 3, 1]); return o.add(p!, o.sliceLast(q!, 0, 2)); }, [{ shape: [3, 6] }]],
  ["sliceLast", (o, [a]) => o.sliceLast(a!, 1, 3), [{ shape: [3, 5] }]],
  ["padLast", (o, [a]) => o.padLast(a!, 6), [{ shape: [3, 2] }]],
  ["layerNorm", (o, [x, g, b]) => o.layerNorm(x!, g!, b!, 1e-5), [{ shape: [4, 6] }, { shape: [6] }, { shape: [6] }]],
  ["gelu (tanh)", (o, [x]) => o.gelu(x!), [{ shape: [4, 5] }]],
  ["softmax", (o, [x]) => o.softmax(x!), [{ shape: [3, 5] }]],
  ["causal mask + softmax", (o, [x]) => o.softmax(o.maskCausal(x!)), [{ shape: [2, 4, 4] }]],
  ["softmax cross-entropy (mean over tokens)", (o, [x, t]) => o.crossEntropy(x!, t!), [{ shape: [6, 5] }, { shape: [6], ints: 5 }]],
  ["a tensor used twice sums its gradients", (o, [x, w]) => o.add(o.linear(x!, w!), o.scale(x!, 2)), [{ shape: [3, 3] }, { shape: [3, 3] }]],
  [
    "one causal attention head",
    (o, [q, k, v]) => o.matmul(o.softmax(o.maskCausal(o.scale(o.matmul(q!, o.transpose(k!, [0, 2, 1])), 0.5))), v!),
    [{ shape: [2, 4, 3] }, { shape: [2, 4, 3] }, { shape: [2, 4, 3] }],
  ],
];

describe("autodiff ops: ORT float64 vs float64 reference", () => {
  for (const [name, fn, specs] of cases) {
    it(`${name}: forward matches and gradients pass the finite-difference check`, async () => {
      const r = await checkOp(fn, specs);
      expect(r.forwardErr).toBeLessThan(1e-6);
      for (const e of r.gradErr) expect(e).toBeLessThanOrEqual(1e-4);
      for (const e of r.fp32GradErr) expect(e).toBeLessThan(2e-3);
    });
  }
});

describe("relErr", () => {
  it("fails a missing or short output instead of scoring it 0", () => {
    expect(relErr([], [1, 2])).toBe(Infinity);
    expect(relErr([1], [1, 2])).toBe(Infinity);
    expect(relErr([1, 2.002], [1, 2])).toBeCloseTo(1e-3, 9);
  });
});

// The emitter: weights stay graph inputs, cuts are minimal, missing feeds are caught at build
// time, and the same trace always serializes to the same bytes.
import { fromBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { savedTensors } from "../../../src/kernels/autodiff/cut.js";
import { emitModel, IR_VERSION, OPSET, symName } from "../../../src/kernels/autodiff/emit.js";
import { arr } from "../../../src/kernels/autodiff/eager.js";
import { trace } from "../../../src/kernels/autodiff/trace.js";
import { runOrt } from "./gradcheck.js";

const mlp = () => {
  const t = trace("float32");
  const x = t.g.input("x", [2, 3]);
  const w = t.g.input("w", [3, 4]);
  const b = t.g.input("b", [4]);
  const y = t.gelu(t.linear(x, w, b));
  const gy = t.g.input("gy", [2, 4]);
  const [gx, gw, gb] = t.gradients(y, gy, [x, w, b]);
  return { t, x, w, b, y, gy, gx: gx!, gw: gw!, gb: gb! };
};

describe("emitModel", () => {
  it("declares weights as graph inputs, never as initializers, at opset 21", () => {
    const { t, x, w, b, y } = mlp();
    const m = fromBinary(ModelProtoSchema, emitModel(t.g, [x, w, b], { y }).bytes);
    expect(m.irVersion).toBe(BigInt(IR_VERSION));
    expect(m.opsetImport[0]?.version).toBe(BigInt(OPSET));
    expect(m.graph?.input.map((i) => i.name)).toEqual(["x", "w", "b"]);
    expect(m.graph?.initializer.map((i) => i.name)).not.toContain("w");
    expect(m.graph?.output.map((o) => o.name)).toEqual(["y"]);
  });

  it("throws at build time when an output needs an input that is not fed", () => {
    const { t, x, w, b, gx } = mlp();
    expect(() => emitModel(t.g, [x, w, b], { gx })).toThrow(/"gy" which is not fed/);
  });

  it("cuts a keep-activations backward at the saved forward tensors and matches recomputation", async () => {
    const { t, x, w, b, y, gy, gx, gw, gb } = mlp();
    const saved = savedTensors(t.g, [gx, gw, gb]);
    expect(saved.length).toBeGreaterThan(0);
    const fwd = emitModel(t.g, [x, w, b], { y, ...Object.fromEntries(saved.map((s) => [symName(s), s])) });
    const keep = emitModel(t.g, [x, w, b, gy, ...saved], { gx, gw, gb });
    const recompute = emitModel(t.g, [x, w, b, gy], { gx, gw, gb });
    expect(recompute.nodeCount).toBeGreaterThan(keep.nodeCount);
    const feeds = { x: arr([2, 3], [0.1, -0.2, 0.3, 0.4, 0.5, -0.6]), w: arr([3, 4], Array.from({ length: 12 }, (_, i) => (i - 6) / 10)), b: arr([4], [0.1, 0, -0.1, 0.2]), gy: arr([2, 4], [1, 2, 3, 4, -1, -2, -3, -4]) };
    const f = await runOrt(fwd, feeds, "float32");
    const savedFeeds = Object.fromEntries(saved.map((s) => [symName(s), arr(s.shape, f[symName(s)] ?? [])]));
    const a = await runOrt(keep, { ...feeds, ...savedFeeds }, "float32");
    const r = await runOrt(recompute, feeds, "float32");
    for (const k of ["gx", "gw", "gb"]) expect(Array.from(a[k] ?? [])).toEqual(Array.from(r[k] ?? []));
  });

  it("re-runs a Gelu whose input is kept instead of keeping its output, with the same gradients bit for bit", async () => {
    const t = trace("float32");
    const x = t.g.input("x", [2, 3]);
    const w1 = t.g.input("w1", [3, 4]);
    const b1 = t.g.input("b1", [4]);
    const w2 = t.g.input("w2", [4, 2]);
    const b2 = t.g.input("b2", [2]);
    const pre = t.linear(x, w1, b1);
    const h = t.gelu(pre);
    const y = t.linear(h, w2, b2);
    const gy = t.g.input("gy", [2, 2]);
    const [gx, gw1, gw2] = t.gradients(y, gy, [x, w1, w2]) as [typeof x, typeof x, typeof x];
    const saved = savedTensors(t.g, [gx, gw1, gw2]);
    // The backward of w2 reads h = gelu(pre) and the Gelu's own gradient reads pre: only pre is kept.
    expect(saved.map((s) => s.id)).toContain(pre.id);
    expect(saved.map((s) => s.id)).not.toContain(h.id);
    const fwd = emitModel(t.g, [x, w1, b1, w2, b2], { y, ...Object.fromEntries(saved.map((s) => [symName(s), s])) });
    const keep = emitModel(t.g, [x, w1, b1, w2, b2, gy, ...saved], { gx, gw1, gw2 });
    expect(fromBinary(ModelProtoSchema, keep.bytes).graph?.node.map((n) => n.opType)).toContain("Gelu");
    const recompute = emitModel(t.g, [x, w1, b1, w2, b2, gy], { gx, gw1, gw2 });
    const feeds = {
      x: arr([2, 3], [0.1, -0.2, 0.3, 0.4, 0.5, -0.6]), w1: arr([3, 4], Array.from({ length: 12 }, (_, i) => (i - 6) / 10)), b1: arr([4], [0.1, 0, -0.1, 0.2]),
      w2: arr([4, 2], [0.3, -0.1, 0.2, 0.5, -0.4, 0.1, 0.05, -0.2]), b2: arr([2], [0.01, -0.02]), gy: arr([2, 2], [1, -2, 3, 0.5]),
    };
    const f = await runOrt(fwd, feeds, "float32");
    const a = await runOrt(keep, { ...feeds, ...Object.fromEntries(saved.map((s) => [symName(s), arr(s.shape, f[symName(s)] ?? [])])) }, "float32");
    const r = await runOrt(recompute, feeds, "float32");
    for (const k of ["gx", "gw1", "gw2"]) expect(Array.from(a[k] ?? [])).toEqual(Array.from(r[k] ?? []));
  });

  it("serializes the same trace to the same bytes", () => {
    const one = mlp();
    const two = mlp();
    const e1 = emitModel(one.t.g, [one.x, one.w, one.b, one.gy], { gx: one.gx, gw: one.gw });
    const e2 = emitModel(two.t.g, [two.x, two.w, two.b, two.gy], { gx: two.gx, gw: two.gw });
    expect(Buffer.from(e1.bytes).equals(Buffer.from(e2.bytes))).toBe(true);
    expect(e1.flops).toBe(3 * (2 * 2 * 3 * 4)); // forward Gemm recomputed, then dx and dW
  });
});

// The symbolic backend: each Ops call records ONNX nodes plus a tape entry whose vjp emits the
// backward ONNX nodes through the same Tracer (reverse mode, tinygrad style). Gradient rules are
// checked against float64 finite differences in test/kernels/autodiff.
import { Graph, type Attr, type Sym } from "./graph.js";
import { GELU_A, GELU_C, MASK_NEG, type Ops } from "./ops.js";
import { broadcast, broadcastAxes, check, fmt, numel, ONNX_DTYPE, sameShape, type DType, type Shape } from "./shape.js";

const swapLast = (r: number): number[] => [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];

/** Records Ops calls into a Graph; `gradients` builds the backward part of the same graph. */
export class Tracer implements Ops<Sym> {
  // Small constants (shapes, axes, scalars) are shared, so a model carries each only once.
  private readonly consts = new Map<string, Sym>();

  constructor(readonly g: Graph) {}

  shape(x: Sym): Shape {
    return x.shape;
  }

  // ---- raw (non-differentiable) helpers used by forward emission and by gradient rules ----

  private one(op: string, ins: readonly Sym[], shape: Shape, attrs: Record<string, Attr> = {}, dtype: DType = this.g.float): Sym {
    const [out] = this.g.node(op, ins, [{ shape, dtype }], attrs);
    if (out === undefined) throw new Error("unreachable");
    return out;
  }
  /** int64 1-D constant (shapes, axes, pads). */
  i64(vals: readonly number[]): Sym {
    return this.shared(`i64:${vals.join(",")}`, () => this.g.constant([vals.length], BigInt64Array.from(vals.map((v) => BigInt(v))), "int64"));
  }
  /** Float scalar constant. */
  scalar(c: number): Sym {
    return this.shared(`f:${c}`, () => this.g.constant([], Float64Array.of(c)));
  }
  private shared(key: string, make: () => Sym): Sym {
    const hit = this.consts.get(key);
    if (hit !== undefined) return hit;
    const s = make();
    this.consts.set(key, s);
    return s;
  }
  private bin(op: "Add" | "Sub" | "Mul", a: Sym, b: Sym): Sym {
    return this.one(op, [a, b], broadcast(a.shape, b.shape));
  }
  mulRaw(a: Sym, b: Sym): Sym {
    return this.bin("Mul", a, b);
  }
  subRaw(a: Sym, b: Sym): Sym {
    return this.bin("Sub", a, b);
  }
  addRaw(a: Sym, b: Sym): Sym {
    return this.bin("Add", a, b);
  }
  reshapeRaw(x: Sym, shape: Shape): Sym {
    if (sameShape(x.shape, shape)) return x;
    return this.one("Reshape", [x, this.i64(shape)], shape, {}, x.dtype);
  }
  transposeRaw(x: Sym, perm: readonly number[]): Sym {
    return this.one("Transpose", [x], perm.map((p) => x.shape[p] ?? 0), { perm: { ints: perm } }, x.dtype);
  }
  /** Sums x over the axes broadcast from `shape`, returning a tensor of exactly `shape`. */
  sumTo(x: Sym, shape: Shape): Sym {
    if (sameShape(x.shape, shape)) return x;
    const axes = broadcastAxes(x.shape, shape);
    const kept = x.shape.filter((_, i) => !axes.includes(i));
    return this.reshapeRaw(this.one("ReduceSum", [x, this.i64(axes)], kept, { keepdims: { i: 0 } }), shape);
  }
  /** Mean over the last axis, keeping it as size 1. */
  meanLast(x: Sym): Sym {
    return this.one("ReduceMean", [x, this.i64([x.shape.length - 1])], [...x.shape.slice(0, -1), 1], { keepdims: { i: 1 } });
  }
  cast(x: Sym, dtype: DType): Sym {
    return x.dtype === dtype ? x : this.one("Cast", [x], x.shape, { to: { i: ONNX_DTYPE[dtype] } }, dtype);
  }
  zeros(shape: Shape): Sym {
    return this.one("Expand", [this.scalar(0), this.i64(shape)], shape);
  }
  private gemm(a: Sym, b: Sym, transA: boolean, transB: boolean, bias?: Sym): Sym {
    const [m, k] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
    const [k2, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
    check(a.shape.length === 2 && b.shape.length === 2 && k === k2, () => `gemm ${fmt(a.shape)} x ${fmt(b.shape)}`);
    const attrs: Record<string, Attr> = {};
    if (transA) attrs["transA"] = { i: 1 };
    if (transB) attrs["transB"] = { i: 1 };
    return this.one("Gemm", bias === undefined ? [a, b] : [a, b, bias], [m ?? 0, n ?? 0], attrs);
  }

  // ---- differentiable ops ----

  gather(table: Sym, ids: Sym): Sym {
    check(table.shape.length === 2 && ids.dtype === "int32", () => `gather needs table [V,d] and int32 ids`);
    const [v = 0, d = 0] = table.shape;
    const y = this.one("Gather", [table, ids], [...ids.shape, d], { axis: { i: 0 } });
    this.g.record([table, ids], [y], ([gy]) => {
      if (gy === undefined) return [undefined, undefined];
      const n = numel(ids.shape);
      const idx = this.reshapeRaw(this.cast(ids, "int64"), [n, 1]);
      const upd = this.reshapeRaw(gy, [n, d]);
      // ScatterND with reduction "add" sums the rows of repeated ids into the table gradient.
      const gt = this.one("ScatterND", [this.zeros([v, d]), idx, upd], [v, d], { reduction: { s: "add" } });
      return [gt, undefined];
    });
    return y;
  }

  add(a: Sym, b: Sym): Sym {
    const y = this.addRaw(a, b);
    this.g.record([a, b], [y], ([gy]) => (gy === undefined ? [undefined, undefined] : [this.sumTo(gy, a.shape), this.sumTo(gy, b.shape)]));
    return y;
  }

  scale(x: Sym, c: number): Sym {
    const y = this.mulRaw(x, this.scalar(c));
    this.g.record([x], [y], ([gy]) => [gy === undefined ? undefined : this.mulRaw(gy, this.scalar(c))]);
    return y;
  }

  maskCausal(x: Sym): Sym {
    const t = x.shape[x.shape.length - 1] ?? 0;
    check(x.shape.length >= 2 && x.shape[x.shape.length - 2] === t, () => `maskCausal needs [...,T,T], got ${fmt(x.shape)}`);
    const m = new Float64Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) m[i * t + j] = MASK_NEG;
    const y = this.addRaw(x, this.g.constant([t, t], m));
    this.g.record([x], [y], ([gy]) => [gy]);
    return y;
  }

  linear(x: Sym, w: Sym, b?: Sym): Sym {
    check(b === undefined || (b.shape.length === 1 && b.shape[0] === w.shape[1]), () => `linear bias ${fmt(b?.shape ?? [])} for weight ${fmt(w.shape)}`);
    const y = this.gemm(x, w, false, false, b);
    this.g.record(b === undefined ? [x, w] : [x, w, b], [y], ([gy]) => {
      if (gy === undefined) return [undefined, undefined, undefined];
      const gx = this.gemm(gy, w, false, true);
      const gw = this.gemm(x, gy, true, false);
      return b === undefined ? [gx, gw] : [gx, gw, this.sumTo(gy, b.shape)];
    });
    return y;
  }

  matmul(a: Sym, b: Sym): Sym {
    const r = a.shape.length;
    const [m, k] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    check(r >= 2 && b.shape.length === r && k === k2 && sameShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), () => `matmul ${fmt(a.shape)} x ${fmt(b.shape)}`);
    const y = this.one("MatMul", [a, b], [...a.shape.slice(0, -2), m ?? 0, n ?? 0]);
    this.g.record([a, b], [y], ([gy]) => {
      if (gy === undefined) return [undefined, undefined];
      // ORT fuses Transpose+MatMul into FusedMatMul, so these transposes cost no copy.
      const ga = this.one("MatMul", [gy, this.transposeRaw(b, swapLast(r))], a.shape);
      const gb = this.one("MatMul", [this.transposeRaw(a, swapLast(r)), gy], b.shape);
      return [ga, gb];
    });
    return y;
  }

  reshape(x: Sym, shape: Shape): Sym {
    check(numel(shape) === numel(x.shape), () => `reshape ${fmt(x.shape)} to ${fmt(shape)}`);
    const y = this.reshapeRaw(x, shape);
    if (y !== x) this.g.record([x], [y], ([gy]) => [gy === undefined ? undefined : this.reshapeRaw(gy, x.shape)]);
    return y;
  }

  transpose(x: Sym, perm: readonly number[]): Sym {
    check(perm.length === x.shape.length && [...perm].sort().every((p, i) => p === i), () => `bad perm [${perm.join(",")}] for ${fmt(x.shape)}`);
    const y = this.transposeRaw(x, perm);
    const inv = perm.map((_, i) => perm.indexOf(i));
    this.g.record([x], [y], ([gy]) => [gy === undefined ? undefined : this.transposeRaw(gy, inv)]);
    return y;
  }

  split(x: Sym, axis: number, sizes: readonly number[]): Sym[] {
    check(sizes.reduce((a, b) => a + b, 0) === x.shape[axis], () => `split sizes [${sizes.join(",")}] of axis ${axis} in ${fmt(x.shape)}`);
    const outs = sizes.map((s) => ({ shape: x.shape.map((d, i) => (i === axis ? s : d)), dtype: x.dtype }));
    const ys = this.g.node("Split", [x, this.i64(sizes)], outs, { axis: { i: axis } });
    this.g.record([x], ys, (gys) => {
      if (gys.every((gy) => gy === undefined)) return [undefined];
      const parts = ys.map((y, i) => gys[i] ?? this.zeros(y.shape));
      return [this.one("Concat", parts, x.shape, { axis: { i: axis } })];
    });
    return ys;
  }

  sliceLast(x: Sym, start: number, end: number): Sym {
    const r = x.shape.length;
    const d = x.shape[r - 1] ?? 0;
    check(0 <= start && start < end && end <= d, () => `sliceLast ${start}:${end} of ${fmt(x.shape)}`);
    const y = this.one("Slice", [x, this.i64([start]), this.i64([end]), this.i64([r - 1])], [...x.shape.slice(0, -1), end - start]);
    this.g.record([x], [y], ([gy]) => [gy === undefined ? undefined : this.padRaw(gy, start, d - end)]);
    return y;
  }

  private padRaw(x: Sym, before: number, after: number): Sym {
    const r = x.shape.length;
    const pads = new Array<number>(2 * r).fill(0);
    pads[r - 1] = before;
    pads[2 * r - 1] = after;
    return this.one("Pad", [x, this.i64(pads)], [...x.shape.slice(0, -1), (x.shape[r - 1] ?? 0) + before + after]);
  }

  padLast(x: Sym, size: number): Sym {
    const r = x.shape.length;
    const d = x.shape[r - 1] ?? 0;
    check(size >= d, () => `padLast to ${size} of ${fmt(x.shape)}`);
    const y = this.padRaw(x, 0, size - d);
    this.g.record([x], [y], ([gy]) => [gy === undefined ? undefined : this.one("Slice", [gy, this.i64([0]), this.i64([d]), this.i64([r - 1])], x.shape)]);
    return y;
  }

  layerNorm(x: Sym, gamma: Sym, beta: Sym, eps: number): Sym {
    const d = x.shape[x.shape.length - 1] ?? 0;
    check(sameShape(gamma.shape, [d]) && sameShape(beta.shape, [d]), () => `layerNorm params must be [${d}]`);
    const stat = { shape: [...x.shape.slice(0, -1), 1], dtype: "float32" as const }; // ORT stashes statistics in fp32
    const [y, mean, inv] = this.g.node("LayerNormalization", [x, gamma, beta], [{ shape: x.shape, dtype: x.dtype }, stat, stat], {
      axis: { i: -1 },
      epsilon: { f: eps },
    });
    if (y === undefined || mean === undefined || inv === undefined) throw new Error("unreachable");
    this.g.record([x, gamma, beta], [y], ([gy]) => {
      if (gy === undefined) return [undefined, undefined, undefined];
      const rstd = this.cast(inv, this.g.float);
      const xhat = this.mulRaw(this.subRaw(x, this.cast(mean, this.g.float)), rstd);
      const gGamma = this.sumTo(this.mulRaw(gy, xhat), gamma.shape);
      const gBeta = this.sumTo(gy, beta.shape);
      // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), with g = dy * gamma.
      const gh = this.mulRaw(gy, gamma);
      const inner = this.subRaw(this.subRaw(gh, this.meanLast(gh)), this.mulRaw(xhat, this.meanLast(this.mulRaw(gh, xhat))));
      return [this.mulRaw(rstd, inner), gGamma, gBeta];
    });
    return y;
  }

  gelu(x: Sym): Sym {
    const y = this.one("Gelu", [x], x.shape, { approximate: { s: "tanh" } });
    this.g.record([x], [y], ([gy]) => {
      if (gy === undefined) return [undefined];
      // d/dx = 0.5(1+t) + 0.5x(1-t^2)·C(1+3A x^2), t = tanh(C(x + A x^3)).
      const x2 = this.mulRaw(x, x);
      const u = this.mulRaw(this.addRaw(this.mulRaw(x2, this.scalar(GELU_A * GELU_C)), this.scalar(GELU_C)), x);
      const t = this.one("Tanh", [u], x.shape);
      const left = this.addRaw(this.mulRaw(t, this.scalar(0.5)), this.scalar(0.5));
      const sech2 = this.subRaw(this.scalar(1), this.mulRaw(t, t));
      const poly = this.addRaw(this.mulRaw(x2, this.scalar(1.5 * GELU_A * GELU_C)), this.scalar(0.5 * GELU_C));
      const right = this.mulRaw(this.mulRaw(x, sech2), poly);
      return [this.mulRaw(gy, this.addRaw(left, right))];
    });
    return y;
  }

  softmax(x: Sym): Sym {
    const y = this.one("Softmax", [x], x.shape, { axis: { i: -1 } });
    this.g.record([x], [y], ([gy]) => {
      if (gy === undefined) return [undefined];
      const r = x.shape.length;
      const dot = this.one("ReduceSum", [this.mulRaw(gy, y), this.i64([r - 1])], [...x.shape.slice(0, -1), 1], { keepdims: { i: 1 } });
      return [this.mulRaw(y, this.subRaw(gy, dot))];
    });
    return y;
  }

  crossEntropy(logits: Sym, targets: Sym): Sym {
    const [n = 0, v = 0] = logits.shape;
    check(logits.shape.length === 2 && targets.dtype === "int32" && sameShape(targets.shape, [n]), () => `crossEntropy needs logits [N,V] and int32 targets [N]`);
    const ls = this.one("LogSoftmax", [logits], logits.shape, { axis: { i: -1 } });
    const vocab = this.g.constant([1, v], Int32Array.from({ length: v }, (_, i) => i), "int32");
    const eq = this.one("Equal", [this.reshapeRaw(targets, [n, 1]), vocab], [n, v], {}, "bool");
    const onehot = this.cast(eq, this.g.float);
    const total = this.one("ReduceSum", [this.mulRaw(ls, onehot)], [], { keepdims: { i: 0 } });
    const loss = this.mulRaw(total, this.scalar(-1 / n));
    this.g.record([logits, targets], [loss], ([gl]) => {
      if (gl === undefined) return [undefined, undefined];
      const p = this.one("Exp", [ls], logits.shape);
      return [this.mulRaw(this.subRaw(p, onehot), this.mulRaw(gl, this.scalar(1 / n))), undefined];
    });
    return loss;
  }

  // ---- reverse mode ----

  /**
   * Gradients of `y` (seeded with `seed`, same shape as y) with respect to each of `wrt`, built
   * as backward-phase nodes of the same graph. Tape entries run in reverse; a tensor used twice
   * gets its gradients summed in tape order, so the graph (and its bytes) is deterministic.
   */
  gradients(y: Sym, seed: Sym, wrt: readonly Sym[]): Sym[] {
    check(sameShape(y.shape, seed.shape), () => `seed ${fmt(seed.shape)} for output ${fmt(y.shape)}`);
    const reach = new Set(wrt.map((s) => s.id));
    for (const e of this.g.tape) if (e.inputs.some((s) => reach.has(s.id))) for (const o of e.outputs) reach.add(o.id);
    const grads = new Map<number, Sym>([[y.id, seed]]);
    const before = this.g.phase;
    this.g.phase = "backward";
    try {
      for (let k = this.g.tape.length - 1; k >= 0; k--) {
        const e = this.g.tape[k];
        if (e === undefined || !e.inputs.some((s) => reach.has(s.id))) continue;
        const gouts = e.outputs.map((o) => grads.get(o.id));
        if (gouts.every((gg) => gg === undefined)) continue;
        const gins = e.vjp(gouts);
        e.inputs.forEach((s, i) => {
          const gi = gins[i];
          if (gi === undefined || !reach.has(s.id)) return;
          check(sameShape(gi.shape, s.shape), () => `gradient ${fmt(gi.shape)} for tensor ${fmt(s.shape)}`);
          const prev = grads.get(s.id);
          grads.set(s.id, prev === undefined ? gi : this.addRaw(prev, gi));
        });
      }
      return wrt.map((s) => grads.get(s.id) ?? this.zeros(s.shape));
    } finally {
      this.g.phase = before;
    }
  }
}

/** A fresh graph and its tracer. */
export const trace = (float: Graph["float"]): Tracer => new Tracer(new Graph(float));

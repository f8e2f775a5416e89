// The float64 TypeScript reference for every op: plain loops, no ORT. Tests run model code on
// this backend and compare ORT's results (and finite differences of these) against it.
import { GELU_A, GELU_C, MASK_NEG, type Ops } from "./ops.js";
import { broadcast, check, fmt, numel, sameShape, strides, type Shape } from "./shape.js";

/** An eager tensor: float64 values, or int32 token ids. */
export type Arr = { readonly shape: Shape; readonly data: Float64Array | Int32Array };

/** Builds an eager tensor (float64 unless the data is Int32Array). */
export const arr = (shape: Shape, data: Float64Array | Int32Array | readonly number[]): Arr => {
  const d = data instanceof Float64Array || data instanceof Int32Array ? data : Float64Array.from(data);
  check(d.length === numel(shape), () => `arr: ${d.length} values for ${fmt(shape)}`);
  return { shape: [...shape], data: d };
};

const f = (x: Arr): Float64Array => {
  if (!(x.data instanceof Float64Array)) throw new TypeError("expected a float tensor");
  return x.data;
};

const map = (x: Arr, fn: (v: number) => number): Arr => arr(x.shape, f(x).map(fn));

/** Index into `src` (shape s) for flat output index i of broadcast shape out. */
const bcastIndex = (out: Shape, s: Shape, i: number): number => {
  const os = strides(out);
  const ss = strides(s);
  const lead = out.length - s.length;
  let j = 0;
  for (let a = 0; a < out.length; a++) {
    const coord = Math.floor(i / (os[a] ?? 1)) % (out[a] ?? 1);
    if (a >= lead && (s[a - lead] ?? 1) !== 1) j += coord * (ss[a - lead] ?? 0);
  }
  return j;
};

/** Applies fn row by row over the last axis. */
const rows = (x: Arr, fn: (row: Float64Array) => Float64Array): Arr => {
  const d = x.shape[x.shape.length - 1] ?? 1;
  const src = f(x);
  const out = new Float64Array(src.length);
  for (let r = 0; r < src.length / d; r++) out.set(fn(src.subarray(r * d, (r + 1) * d)), r * d);
  return arr(x.shape, out);
};

/** Eager float64 implementation of Ops. */
export const eager: Ops<Arr> = {
  shape: (x) => x.shape,
  gather(table, ids) {
    const d = table.shape[1] ?? 0;
    const out = new Float64Array(ids.data.length * d);
    ids.data.forEach((id, i) => out.set(f(table).subarray(Number(id) * d, (Number(id) + 1) * d), i * d));
    return arr([...ids.shape, d], out);
  },
  add(a, b) {
    const s = broadcast(a.shape, b.shape);
    const out = new Float64Array(numel(s));
    for (let i = 0; i < out.length; i++) out[i] = (f(a)[bcastIndex(s, a.shape, i)] ?? 0) + (f(b)[bcastIndex(s, b.shape, i)] ?? 0);
    return arr(s, out);
  },
  scale: (x, c) => map(x, (v) => v * c),
  maskCausal(x) {
    const t = x.shape[x.shape.length - 1] ?? 0;
    const out = Float64Array.from(f(x));
    for (let i = 0; i < out.length; i++) if (i % t > Math.floor(i / t) % t) out[i] = (out[i] ?? 0) + MASK_NEG;
    return arr(x.shape, out);
  },
  linear(x, w, b) {
    const [n = 0, k = 0] = x.shape;
    const m = w.shape[1] ?? 0;
    check(w.shape[0] === k, () => `linear ${fmt(x.shape)} x ${fmt(w.shape)}`);
    const out = new Float64Array(n * m);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++) {
        let s = b === undefined ? 0 : (f(b)[j] ?? 0);
        for (let p = 0; p < k; p++) s += (f(x)[i * k + p] ?? 0) * (f(w)[p * m + j] ?? 0);
        out[i * m + j] = s;
      }
    return arr([n, m], out);
  },
  matmul(a, b) {
    const [m = 0, k = 0] = a.shape.slice(-2);
    const n = b.shape[b.shape.length - 1] ?? 0;
    const batch = numel(a.shape.slice(0, -2));
    check(sameShape(a.shape.slice(0, -2), b.shape.slice(0, -2)) && b.shape[b.shape.length - 2] === k, () => `matmul ${fmt(a.shape)} x ${fmt(b.shape)}`);
    const out = new Float64Array(batch * m * n);
    for (let z = 0; z < batch; z++)
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += (f(a)[z * m * k + i * k + p] ?? 0) * (f(b)[z * k * n + p * n + j] ?? 0);
          out[z * m * n + i * n + j] = s;
        }
    return arr([...a.shape.slice(0, -2), m, n], out);
  },
  reshape: (x, shape) => arr(shape, x.data),
  transpose(x, perm) {
    const shape = perm.map((p) => x.shape[p] ?? 0);
    const is = strides(x.shape);
    const os = strides(shape);
    const out = new Float64Array(numel(shape));
    for (let i = 0; i < out.length; i++) {
      let j = 0;
      for (let a = 0; a < shape.length; a++) j += (Math.floor(i / (os[a] ?? 1)) % (shape[a] ?? 1)) * (is[perm[a] ?? 0] ?? 0);
      out[i] = f(x)[j] ?? 0;
    }
    return arr(shape, out);
  },
  split(x, axis, sizes) {
    const outer = numel(x.shape.slice(0, axis));
    const inner = numel(x.shape.slice(axis + 1));
    const full = x.shape[axis] ?? 0;
    let off = 0;
    return sizes.map((sz) => {
      const out = new Float64Array(outer * sz * inner);
      for (let o = 0; o < outer; o++) out.set(f(x).subarray((o * full + off) * inner, (o * full + off + sz) * inner), o * sz * inner);
      off += sz;
      return arr(x.shape.map((d, i) => (i === axis ? sz : d)), out);
    });
  },
  sliceLast: (x, start, end) => {
    const d = x.shape[x.shape.length - 1] ?? 0;
    const n = numel(x.shape) / d;
    const out = new Float64Array(n * (end - start));
    for (let r = 0; r < n; r++) out.set(f(x).subarray(r * d + start, r * d + end), r * (end - start));
    return arr([...x.shape.slice(0, -1), end - start], out);
  },
  padLast: (x, size) => {
    const d = x.shape[x.shape.length - 1] ?? 0;
    const n = numel(x.shape) / d;
    const out = new Float64Array(n * size);
    for (let r = 0; r < n; r++) out.set(f(x).subarray(r * d, (r + 1) * d), r * size);
    return arr([...x.shape.slice(0, -1), size], out);
  },
  layerNorm: (x, gamma, beta, eps) =>
    rows(x, (row) => {
      const mean = row.reduce((a, b) => a + b, 0) / row.length;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / row.length;
      const rstd = 1 / Math.sqrt(variance + eps);
      return row.map((v, i) => (v - mean) * rstd * (f(gamma)[i] ?? 0) + (f(beta)[i] ?? 0));
    }),
  gelu: (x) => map(x, (v) => 0.5 * v * (1 + Math.tanh(GELU_C * (v + GELU_A * v * v * v)))),
  softmax: (x) =>
    rows(x, (row) => {
      const mx = Math.max(...row);
      const e = row.map((v) => Math.exp(v - mx));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    }),
  crossEntropy(logits, targets) {
    const [n = 0, v = 0] = logits.shape;
    let total = 0;
    for (let r = 0; r < n; r++) {
      const row = f(logits).subarray(r * v, (r + 1) * v);
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, b) => a + Math.exp(b - mx), 0));
      total += lse - (row[Number(targets.data[r])] ?? 0);
    }
    return arr([], [total / n]);
  },
};

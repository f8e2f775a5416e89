// Static shapes for the tracing autodiff: every symbolic tensor knows its full shape at trace
// time, so a shape mistake is a build-time exception here, never an ORT error at run time.

/** A static tensor shape (row-major dims). */
export type Shape = readonly number[];

/** Element types the graphs use: floats for activations and weights, ints for tokens. */
export type DType = "float32" | "float64" | "int32" | "int64" | "bool";

/** Float element type of a whole graph: fp32 for training, fp64 for gradient checks. */
export type FloatType = "float32" | "float64";

/** Number of elements in a shape (1 for a scalar). */
export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);

/** Row-major strides of a shape. */
export const strides = (s: Shape): number[] => {
  const out = new Array<number>(s.length).fill(1);
  for (let i = s.length - 2; i >= 0; i--) out[i] = (out[i + 1] ?? 1) * (s[i + 1] ?? 1);
  return out;
};

/** Throws a descriptive error when `cond` is false (a trace-time shape check). */
export function check(cond: boolean, msg: () => string): asserts cond {
  if (!cond) throw new RangeError(`autodiff: ${msg()}`);
}

/** Shape equality. */
export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Numpy-style broadcast of two shapes; throws when they are incompatible. */
export const broadcast = (a: Shape, b: Shape): Shape => {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    check(x === y || x === 1 || y === 1, () => `cannot broadcast [${a.join(",")}] with [${b.join(",")}]`);
    out.push(Math.max(x, y));
  }
  return out;
};

/** The axes of `full` that were broadcast from `small` (to be summed in a gradient). */
export const broadcastAxes = (full: Shape, small: Shape): number[] => {
  const lead = full.length - small.length;
  const axes: number[] = [];
  for (let i = 0; i < full.length; i++) {
    if (i < lead || (small[i - lead] === 1 && full[i] !== 1)) axes.push(i);
  }
  return axes;
};

/** Formats a shape for messages. */
export const fmt = (s: Shape): string => `[${s.join(",")}]`;

/** ONNX TensorProto.DataType codes (Cast's `to` attribute and value infos). */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = { float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 };

// The plain tensor every kernel module speaks: dims plus a typed array, no ORT types. Kept apart
// from the session so pure code (codec, optimizers, data) can use it without loading ORT.

/** A dense row-major tensor; `data.length` equals the product of `dims`. */
export type Tensor = {
  readonly dims: readonly number[];
  readonly data: Float32Array | Int32Array | BigInt64Array;
};

/** The element type names ORT uses for the three typed arrays we support. */
export type TensorDtype = "float32" | "int32" | "int64";

/** Number of elements a shape holds (1 for a scalar). */
export const sizeOf = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** The ORT dtype name of a tensor's data. */
export const dtypeOf = (data: Tensor["data"]): TensorDtype =>
  data instanceof Float32Array ? "float32" : data instanceof Int32Array ? "int32" : "int64";

/** A float32 tensor, checking that the data fits the shape. */
export const f32 = (dims: readonly number[], data?: Float32Array): Tensor => {
  const n = sizeOf(dims);
  const d = data ?? new Float32Array(n);
  if (d.length !== n) throw new RangeError(`f32: ${d.length} elements for shape [${dims.join(",")}]`);
  return { dims, data: d };
};

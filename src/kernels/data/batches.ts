// Batches as pure functions: training batch `batchId` under `seed` holds windows at offsets hashed
// from (seed, batchId, row), so any party can recompute exactly which bytes a batch held.
// Validation batches are fixed, evenly spaced windows of the validation split.
import { uniformInt } from "./prng.js";

/** Batch geometry and the token id type the model's graph takes. */
export type BatchShape = { readonly batchSize: number; readonly seq: number; readonly dtype?: "int32" | "int64" };

/** Token ids [batchSize, seq] and next-byte targets [batchSize, seq], row-major. */
export type Batch = {
  readonly dims: readonly [number, number];
  readonly inputs: Int32Array | BigInt64Array;
  readonly targets: Int32Array | BigInt64Array;
  /** Window start offsets into the split, one per row (for audits). */
  readonly offsets: readonly number[];
};

const fill = (text: Uint8Array, offsets: readonly number[], shape: BatchShape): Batch => {
  const { batchSize, seq } = shape;
  const n = batchSize * seq;
  const wide = shape.dtype === "int64";
  const inputs = wide ? new BigInt64Array(n) : new Int32Array(n);
  const targets = wide ? new BigInt64Array(n) : new Int32Array(n);
  offsets.forEach((off, r) => {
    for (let j = 0; j < seq; j++) {
      const x = text[off + j] ?? 0;
      const y = text[off + j + 1] ?? 0;
      if (wide) {
        (inputs as BigInt64Array)[r * seq + j] = BigInt(x);
        (targets as BigInt64Array)[r * seq + j] = BigInt(y);
      } else {
        (inputs as Int32Array)[r * seq + j] = x;
        (targets as Int32Array)[r * seq + j] = y;
      }
    }
  });
  return { dims: [batchSize, seq], inputs, targets, offsets };
};

const checkShape = (text: Uint8Array, { batchSize, seq }: BatchShape): void => {
  if (!Number.isInteger(batchSize) || batchSize < 1 || !Number.isInteger(seq) || seq < 1) throw new RangeError(`bad batch shape ${batchSize}x${seq}`);
  if (text.length < seq + 1) throw new RangeError(`text of ${text.length} bytes is shorter than a window of ${seq + 1}`);
};

/** Training batch `batchId` of `text` under `seed`: each row a random window of seq+1 bytes. */
export const batch = (text: Uint8Array, seed: number, batchId: number, shape: BatchShape): Batch => {
  checkShape(text, shape);
  const span = text.length - shape.seq; // valid starts: 0 .. len - seq - 1
  const offsets = Array.from({ length: shape.batchSize }, (_, r) => uniformInt(span, seed, batchId, Math.floor(batchId / 2 ** 32), r));
  return fill(text, offsets, shape);
};

/**
 * `count` fixed validation batches: count·batchSize windows spread evenly over `text` (the same
 * for every seed and every run, so validation losses compare across runs).
 */
export const validationBatches = (text: Uint8Array, count: number, shape: BatchShape): Batch[] => {
  checkShape(text, shape);
  const windows = count * shape.batchSize;
  const stride = (text.length - shape.seq - 1) / Math.max(1, windows - 1);
  return Array.from({ length: count }, (_, b) =>
    fill(text, Array.from({ length: shape.batchSize }, (_, r) => Math.floor((b * shape.batchSize + r) * stride)), shape),
  );
};

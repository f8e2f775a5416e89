// Merge snapshots as bfloat16: the top 16 bits of each float32, rounded to nearest even. A
// participant rounds its snapshot in place before sending it, so the snapshot it keeps as its
// overlap base is exactly what its reducers read: adopting a result as result + (weights now −
// base) leaves its own rounding residual in its own weights instead of losing it. Half the bytes
// of a float32 snapshot; results stay float32.
import type { Schedule } from "../../events/swarm/index.js";
import type { Partition } from "./partitions.js";

/** How a run's merge snapshots are encoded (run config v6's schedule; every earlier run sent float32). */
export type SnapshotCodec = NonNullable<Schedule["snapshotCodec"]>;

/** Bytes one snapshot value takes under `codec`. */
export const snapshotBytesPerValue = (codec: SnapshotCodec): number => (codec === "bf16" ? 2 : 4);

const EXPONENT = 0x7f800000;

/**
 * Rounds `x` in place to bfloat16 values (nearest, ties to even; infinities kept; a NaN stays a
 * NaN, quieted) and returns their 16-bit codes, element for element.
 */
export const roundToBf16 = (x: Float32Array): Uint16Array => {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const codes = new Uint16Array(x.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i] as number;
    // NaN or infinity: no rounding (it would carry into the sign); a NaN keeps a mantissa bit.
    // Otherwise b + 0x8000 stays below 2^32 (the largest finite b is 0x7f7fffff | sign), so the
    // shift takes the top 16 bits of the exact sum.
    const code = (b & EXPONENT) === EXPONENT ? (b >>> 16) | ((b & 0x7fffff) !== 0 ? 0x40 : 0) : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    codes[i] = code;
    bits[i] = code << 16;
  }
  return codes;
};

/** Whether this machine stores a Uint16Array little-endian (every platform Node runs on in practice). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The float32 values of bfloat16 codes stored little-endian in `bytes` (a fresh array). */
export const widenBf16 = (bytes: Uint8Array): Float32Array => {
  const codes = bf16Codes(bytes);
  const out = new Uint32Array(codes.length);
  widenCodesInto(codes, 0, out);
  return new Float32Array(out.buffer);
};

/**
 * The bfloat16 codes stored little-endian in `bytes`: a view when this machine is little-endian and
 * the bytes are 2-aligned (read-only then: they are the caller's), else a copy.
 */
export const bf16Codes = (bytes: Uint8Array): Uint16Array => {
  if (bytes.byteLength % 2 !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a bfloat16 vector`);
  const n = bytes.byteLength / 2;
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  const codes = new Uint16Array(n);
  for (let i = 0; i < n; i++) codes[i] = (bytes[2 * i] as number) | ((bytes[2 * i + 1] as number) << 8);
  return codes;
};

/**
 * out[i] = codes[start + i] << 16 for every i of `out`: a code is a float32's top half, so these are
 * its float32 bits (its own function, so V8 optimizes the loop whole).
 */
export const widenCodesInto = (codes: Uint16Array, start: number, out: Uint32Array): void => {
  for (let i = 0; i < out.length; i++) out[i] = (codes[start + i] as number) << 16;
};

/** The little-endian bytes of codes `codes[p.start..p.end)` (a view, no copy). */
export const bf16Bytes = (codes: Uint16Array, p: Partition): Uint8Array =>
  new Uint8Array(codes.buffer, codes.byteOffset + p.start * 2, (p.end - p.start) * 2);

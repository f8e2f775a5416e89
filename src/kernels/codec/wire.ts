// Encode a float32 tensor for the wire as fp32, fp16 or int8 with per-row fp16 scales, and
// decode it back. Decoding trusts nothing: every malformed, truncated, oversized or inconsistent
// buffer becomes a CodecError, never a RangeError from a typed-array constructor.
import { Result } from "effect";
import { fromHalf, toHalf } from "./half.js";
import {
  codecError,
  CodecError,
  DEFAULT_MAX_ELEMENTS,
  DTYPE_CODES,
  DTYPES,
  elements,
  headerBytes,
  MAGIC,
  MAX_RANK,
  payloadBytes,
  rowsOf,
  VERSION,
  wireBytes,
  type WireDtype,
} from "./format.js";

/** A float32 tensor as the codec sees it. */
export type FloatTensor = { readonly dims: readonly number[]; readonly data: Float32Array };

/** A decoded tensor and the wire type it arrived in. */
export type Decoded = FloatTensor & { readonly dtype: WireDtype };

// The typed-array fast paths below assume a little-endian host (x86-64, arm64).
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const f32scratch = new Float32Array(1);
const u32scratch = new Uint32Array(f32scratch.buffer);

/** The e with max·2^-e in [0.5, 1) (from the float32 exponent bits, so it is exact); 0 for 0. */
const shiftExponent = (x: Float32Array): number => {
  let max = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i] ?? 0);
    if (a > max) max = a;
  }
  if (max === 0) return 0;
  f32scratch[0] = max;
  const field = ((u32scratch[0] ?? 0) >>> 23) & 0xff;
  return field === 0 ? -126 : Math.min(127, field - 126);
};

const checkDims = (dims: readonly number[]): void => {
  if (dims.length > MAX_RANK) throw codecError("bad-rank", `rank ${dims.length} > ${MAX_RANK}`);
  for (const d of dims) if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw codecError("bad-dims", `bad dimension ${d}`);
};

/**
 * Encodes `t` as `dtype`. Throws CodecError("bad-dims") when data and shape disagree and
 * ("non-finite") on NaN/±Inf. With y = x·2^-e (see format.ts): fp16 stores half(y), so
 * |error| <= |x|·2^-11 + 2^(e-25); int8: per row, scale = max|y| / 127 rounded up to fp16 (at
 * least 2^-24), q = round(y / scale), so |error| <= max_row|x|·(1 + 2^-10) / 254 + 2^(e-25).
 */
export const encode = (t: FloatTensor, dtype: WireDtype): Uint8Array => {
  checkDims(t.dims);
  const n = elements(t.dims);
  if (n !== t.data.length) throw codecError("bad-dims", `${t.data.length} elements for shape [${t.dims.join(",")}]`);
  const out = new Uint8Array(wireBytes(t.dims, dtype));
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = DTYPE_CODES[dtype];
  out[6] = t.dims.length;
  t.dims.forEach((d, i) => view.setUint32(8 + 4 * i, d, true));
  const off = headerBytes(t.dims.length);
  const x = t.data;
  for (let i = 0; i < n; i++) {
    const v = x[i] ?? 0;
    if (v - v !== 0) throw codecError("non-finite", `element ${i} is ${v}`);
  }
  if (dtype === "fp32") {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(x.buffer, x.byteOffset, 4 * n), off);
    else for (let i = 0; i < n; i++) view.setFloat32(off + 4 * i, x[i] ?? 0, true);
    return out;
  }
  const e = shiftExponent(x);
  view.setInt8(7, e);
  const down = 2 ** -e; // exact: a power of two
  if (dtype === "fp16") {
    // The header is 8 + 4·rank bytes, so the payload of a fresh buffer is 2-byte aligned.
    const h16 = LITTLE_ENDIAN ? new Uint16Array(out.buffer, off, n) : undefined;
    for (let i = 0; i < n; i++) {
      const h = toHalf((x[i] ?? 0) * down);
      if (h16 !== undefined) h16[i] = h;
      else view.setUint16(off + 2 * i, h, true);
    }
    return out;
  }
  const rows = rowsOf(t.dims);
  const cols = rows === 0 ? 0 : n / rows;
  const q = new Int8Array(out.buffer, off + 2 * rows, n);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let c = 0; c < cols; c++) {
      const a = Math.abs((x[r * cols + c] ?? 0) * down);
      if (a > max) max = a;
    }
    // Round the scale up, never down, so max|x| / scale <= 127 and no element clips.
    let h = toHalf(Math.max(max / 127, 2 ** -24));
    if (fromHalf(h) < max / 127) h++;
    view.setUint16(off + 2 * r, h, true);
    const inv = down / fromHalf(h);
    for (let c = 0; c < cols; c++) {
      const v = Math.round((x[r * cols + c] ?? 0) * inv);
      q[r * cols + c] = v > 127 ? 127 : v < -127 ? -127 : v;
    }
  }
  return out;
};

/** Decoder limits. */
export type DecodeOptions = {
  /** Refuse tensors larger than this many elements (default 2^28). */
  readonly maxElements?: number;
  /** When given, the decoded shape must equal it exactly. */
  readonly expectDims?: readonly number[];
};

/** Decodes a buffer produced by `encode`, or throws CodecError. */
export const decode = (buf: Uint8Array, opts: DecodeOptions = {}): Decoded => {
  if (buf.length < 8) throw codecError("truncated", `${buf.length} bytes, header needs 8`);
  if (MAGIC.some((m, i) => buf[i] !== m)) throw codecError("bad-magic", "not a Swarmline wire tensor");
  if (buf[4] !== VERSION) throw codecError("bad-version", `version ${buf[4]}, expected ${VERSION}`);
  const dtype = DTYPES[buf[5] ?? 255];
  if (dtype === undefined) throw codecError("bad-dtype", `dtype code ${buf[5]}`);
  const rank = buf[6] ?? 0;
  if (rank > MAX_RANK) throw codecError("bad-rank", `rank ${rank} > ${MAX_RANK}`);
  const e = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getInt8(7);
  if (buf[5] === DTYPE_CODES.fp32 && e !== 0) throw codecError("bad-scale", `fp32 tensor with exponent ${e}`);
  const up = 2 ** e;
  const hdr = headerBytes(rank);
  if (buf.length < hdr) throw codecError("truncated", `${buf.length} bytes, header needs ${hdr}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  let n = 1;
  const max = opts.maxElements ?? DEFAULT_MAX_ELEMENTS;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(8 + 4 * i, true);
    dims.push(d);
    n *= d;
    if (n > max) throw codecError("oversized", `shape [${dims.join(",")}...] exceeds ${max} elements`);
  }
  if (opts.expectDims !== undefined && (opts.expectDims.length !== rank || opts.expectDims.some((d, i) => d !== dims[i]))) {
    throw codecError("bad-dims", `shape [${dims.join(",")}], expected [${opts.expectDims.join(",")}]`);
  }
  const need = hdr + payloadBytes(dims, dtype);
  if (buf.length < need) throw codecError("truncated", `${buf.length} bytes, shape [${dims.join(",")}] as ${dtype} needs ${need}`);
  if (buf.length > need) throw codecError("trailing-bytes", `${buf.length - need} bytes after the payload`);
  const data = new Float32Array(n);
  if (dtype === "fp32") {
    if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(buf.subarray(hdr, need));
    else for (let i = 0; i < n; i++) data[i] = view.getFloat32(hdr + 4 * i, true);
    for (let i = 0; i < n; i++) {
      const v = data[i] ?? 0;
      if (v - v !== 0) throw codecError("non-finite", `element ${i} is ${v}`);
    }
  } else if (dtype === "fp16") {
    const aligned = LITTLE_ENDIAN && (buf.byteOffset + hdr) % 2 === 0;
    const h16 = aligned ? new Uint16Array(buf.buffer, buf.byteOffset + hdr, n) : undefined;
    for (let i = 0; i < n; i++) {
      const h = h16 !== undefined ? (h16[i] ?? 0) : view.getUint16(hdr + 2 * i, true);
      if ((h & 0x7c00) === 0x7c00) throw codecError("non-finite", `element ${i} is not finite`);
      data[i] = fromHalf(h) * up;
    }
  } else {
    const rows = rowsOf(dims);
    const cols = rows === 0 ? 0 : n / rows;
    const q = new Int8Array(buf.buffer, buf.byteOffset + hdr + 2 * rows, n);
    for (let r = 0; r < rows; r++) {
      const h = view.getUint16(hdr + 2 * r, true);
      const s = fromHalf(h) * up;
      if (!Number.isFinite(s) || s < 0 || (h & 0x8000) !== 0) throw codecError("bad-scale", `row ${r} scale ${s}`);
      for (let c = 0; c < cols; c++) {
        const v = q[r * cols + c] ?? 0;
        if (v === -128) throw codecError("bad-scale", `row ${r} holds -128, outside the symmetric range`);
        data[r * cols + c] = v * s;
      }
    }
  }
  if (e > 0) {
    for (let i = 0; i < n; i++) {
      const v = data[i] ?? 0;
      if (v - v !== 0) throw codecError("non-finite", `element ${i} overflows float32 after the 2^${e} shift`);
    }
  }
  return { dims, data, dtype };
};

/** `decode` as a Result: Success with the tensor or Failure with the CodecError. */
export const decodeResult = (buf: Uint8Array, opts: DecodeOptions = {}): Result.Result<Decoded, CodecError> => {
  try {
    return Result.succeed(decode(buf, opts));
  } catch (err) {
    if (err instanceof CodecError) return Result.fail(err);
    throw err;
  }
};

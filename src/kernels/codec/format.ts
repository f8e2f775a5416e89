// The wire format of a compressed tensor: an 8-byte header, rank little-endian u32 dims, then the
// payload. Sizes are pure functions of (dims, dtype), so a receiver checks a buffer's length
// before touching it and a compression ratio is computed without encoding anything.
import { Schema } from "effect";

/**
 * Header (little-endian):
 *   0..3  magic "SWLC"        4  version (1)      5  dtype code (0 fp32, 1 fp16, 2 int8)
 *   6     rank (0..8)          7  exponent e (int8)  8.. rank × u32 dims
 * Payload: fp32 = n×4 bytes; fp16 = n×2 bytes (binary16); int8 = rows × 2 bytes of binary16
 * per-row scales, then n signed bytes, where a row is the last dimension (rows = n / last dim).
 * The reduced types store x·2^-e with e chosen so max|x|·2^-e lies in [0.5, 1): a lossless
 * power-of-two shift that keeps tiny tensors (boundary gradients ~1e-6) out of fp16's
 * subnormal range. fp32 always has e = 0.
 */
export const MAGIC = [0x53, 0x57, 0x4c, 0x43] as const;
export const VERSION = 1;
export const MAX_RANK = 8;
/** Decoders refuse tensors with more elements than this unless told otherwise (2^28 = 1 GiB fp32). */
export const DEFAULT_MAX_ELEMENTS = 2 ** 28;

/** Wire element types. int8 is symmetric per-row quantization with fp16 scales. */
export type WireDtype = "fp32" | "fp16" | "int8";
export const DTYPE_CODES: Readonly<Record<WireDtype, number>> = { fp32: 0, fp16: 1, int8: 2 };
export const DTYPES: readonly WireDtype[] = ["fp32", "fp16", "int8"];

/** Why a buffer was refused. */
export class CodecError extends Schema.TaggedError<CodecError>()("CodecError", {
  reason: Schema.Literals(["bad-magic", "bad-version", "bad-dtype", "bad-rank", "bad-dims", "truncated", "oversized", "trailing-bytes", "non-finite", "bad-scale"]),
  message: Schema.String,
}) {}

export const codecError = (reason: CodecError["reason"], message: string): CodecError => new CodecError({ reason, message });

/** Header length for a rank. */
export const headerBytes = (rank: number): number => 8 + 4 * rank;

/** Elements in a shape. */
export const elements = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Rows of a shape for per-row scales: every dimension but the last (1 for rank 0 or 1). */
export const rowsOf = (dims: readonly number[]): number => {
  const last = dims[dims.length - 1];
  if (last === undefined) return 1;
  return last === 0 ? 0 : elements(dims) / last;
};

/** Payload length in bytes. */
export const payloadBytes = (dims: readonly number[], dtype: WireDtype): number => {
  const n = elements(dims);
  return dtype === "fp32" ? 4 * n : dtype === "fp16" ? 2 * n : 2 * rowsOf(dims) + n;
};

/** Total encoded length of a tensor, header included. */
export const wireBytes = (dims: readonly number[], dtype: WireDtype): number => headerBytes(dims.length) + payloadBytes(dims, dtype);

/** Bytes of the same tensor as raw float32 (no header): the denominator's reference. */
export const fp32Bytes = (dims: readonly number[]): number => 4 * elements(dims);

/**
 * Compression ratio of a stage boundary: fp32 bytes of the uncompressed activation (e.g.
 * [batch, seq, d_model]) ÷ wire bytes of what is actually sent (e.g. [batch, seq, b] in int8).
 */
export const compressionRatio = (uncompressedDims: readonly number[], sentDims: readonly number[], dtype: WireDtype): number =>
  fp32Bytes(uncompressedDims) / wireBytes(sentDims, dtype);

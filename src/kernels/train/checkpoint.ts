// A training checkpoint: the run's options, progress (step, tokens, loss curve), every parameter
// and the optimizer state, in one self-describing file. Resume refuses a checkpoint of another run.
import { Schema } from "effect";
import type { TrainOptions } from "./options.js";

/** The checkpoint is unreadable or belongs to a different run. */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", { message: Schema.String }) {}

/** Everything needed to continue a run exactly where it stopped. */
export type Checkpoint = {
  readonly options: TrainOptions;
  /** Steps completed (the next batch id). */
  readonly step: number;
  readonly tokens: number;
  readonly lossCurve: readonly (readonly [number, number])[];
  /** Parameters in spec order. */
  readonly params: readonly { readonly name: string; readonly data: Float32Array }[];
  readonly optimizer: Uint8Array;
};

const MAGIC = "SWCK";
const VERSION = 1;

/**
 * Layout: "SWCK", u32 version, u32 header length, UTF-8 JSON header {options, step, tokens,
 * lossCurve, params: [{name, length}]}, then each parameter as little-endian float32, then the
 * optimizer blob (u32 length + bytes).
 */
export const encodeCheckpoint = (c: Checkpoint): Uint8Array => {
  const header = new TextEncoder().encode(JSON.stringify({
    options: c.options, step: c.step, tokens: c.tokens, lossCurve: c.lossCurve,
    params: c.params.map((p) => ({ name: p.name, length: p.data.length })),
  }));
  const paramBytes = c.params.reduce((n, p) => n + 4 * p.data.length, 0);
  const out = new Uint8Array(12 + header.length + paramBytes + 4 + c.optimizer.length);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  v.setUint32(4, VERSION, true);
  v.setUint32(8, header.length, true);
  out.set(header, 12);
  let o = 12 + header.length;
  for (const p of c.params) {
    for (let i = 0; i < p.data.length; i++) v.setFloat32(o + 4 * i, p.data[i] ?? 0, true);
    o += 4 * p.data.length;
  }
  v.setUint32(o, c.optimizer.length, true);
  out.set(c.optimizer, o + 4);
  return out;
};

type Header = { options: TrainOptions; step: number; tokens: number; lossCurve: [number, number][]; params: { name: string; length: number }[] };

/** Parses a checkpoint; throws CheckpointError on any inconsistency. */
export const decodeCheckpoint = (buf: Uint8Array): Checkpoint => {
  const fail = (m: string): never => {
    throw new CheckpointError({ message: m });
  };
  if (buf.length < 12 || new TextDecoder().decode(buf.subarray(0, 4)) !== MAGIC) fail("not a Swarmline checkpoint");
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (v.getUint32(4, true) !== VERSION) fail(`checkpoint version ${v.getUint32(4, true)}`);
  const hlen = v.getUint32(8, true);
  if (12 + hlen > buf.length) fail("checkpoint truncated in its header");
  let h: Header;
  try {
    h = JSON.parse(new TextDecoder().decode(buf.subarray(12, 12 + hlen))) as Header;
  } catch {
    return fail("checkpoint header is not JSON");
  }
  let o = 12 + hlen;
  const params = h.params.map(({ name, length }) => {
    if (o + 4 * length > buf.length) fail(`checkpoint truncated in parameter ${name}`);
    const data = new Float32Array(length);
    for (let i = 0; i < length; i++) data[i] = v.getFloat32(o + 4 * i, true);
    o += 4 * length;
    return { name, data };
  });
  if (o + 4 > buf.length) fail("checkpoint truncated before the optimizer state");
  const olen = v.getUint32(o, true);
  if (o + 4 + olen !== buf.length) fail("checkpoint optimizer state has the wrong length");
  return { options: h.options, step: h.step, tokens: h.tokens, lossCurve: h.lossCurve, params, optimizer: buf.slice(o + 4) };
};

// A tiny binary writer/reader for optimizer state: little-endian scalars and raw float32 arrays.
// Reading validates every length, so a truncated or foreign blob is an OptimStateError.
import { Schema } from "effect";

/** A state blob could not be restored (wrong kind, truncated, shapes that do not match the params). */
export class OptimStateError extends Schema.TaggedError<OptimStateError>()("OptimStateError", {
  message: Schema.String,
}) {}

/** Whether this machine stores a float32 little-endian (the state's byte order): then arrays copy as bytes. */
const LITTLE_ENDIAN = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;

/** Appends scalars and arrays, then concatenates them into one buffer. An array given to f32s must not change until finish(). */
export class StateWriter {
  private readonly parts: Uint8Array[] = [];
  u32(x: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, x, true);
    this.parts.push(b);
    return this;
  }
  f64(x: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, true);
    this.parts.push(b);
    return this;
  }
  bytes(x: Uint8Array): this {
    this.parts.push(x.slice());
    return this;
  }
  f32s(x: Float32Array): this {
    this.u32(x.length);
    if (LITTLE_ENDIAN) {
      // A Float32Array already holds little-endian bytes here: copied once, by finish(), not a DataView call per value.
      this.parts.push(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
      return this;
    }
    const b = new Uint8Array(x.length * 4);
    const v = new DataView(b.buffer);
    for (let i = 0; i < x.length; i++) v.setFloat32(4 * i, x[i] ?? 0, true);
    this.parts.push(b);
    return this;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** Reads what a StateWriter wrote, throwing OptimStateError on any overrun. */
export class StateReader {
  private off = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.off + n > this.buf.length) throw new OptimStateError({ message: `state truncated at byte ${this.off} (needs ${n} more)` });
  }
  u32(): number {
    this.need(4);
    const x = this.view.getUint32(this.off, true);
    this.off += 4;
    return x;
  }
  f64(): number {
    this.need(8);
    const x = this.view.getFloat64(this.off, true);
    this.off += 8;
    return x;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const x = this.buf.slice(this.off, this.off + n);
    this.off += n;
    return x;
  }
  f32s(expectLength?: number): Float32Array {
    const n = this.u32();
    if (expectLength !== undefined && n !== expectLength) throw new OptimStateError({ message: `array of ${n} elements, parameter has ${expectLength}` });
    this.need(4 * n);
    const x = new Float32Array(n);
    if (LITTLE_ENDIAN) new Uint8Array(x.buffer).set(this.buf.subarray(this.off, this.off + 4 * n));
    else for (let i = 0; i < n; i++) x[i] = this.view.getFloat32(this.off + 4 * i, true);
    this.off += 4 * n;
    return x;
  }
  end(): void {
    if (this.off !== this.buf.length) throw new OptimStateError({ message: `${this.buf.length - this.off} trailing bytes in state` });
  }
}

/** Checks a 4-byte magic tag and a version. */
export const expectMagic = (r: StateReader, magic: string, version: number): void => {
  const m = new TextDecoder().decode(r.bytes(4));
  if (m !== magic) throw new OptimStateError({ message: `state tag "${m}", expected "${magic}"` });
  const v = r.u32();
  if (v !== version) throw new OptimStateError({ message: `state version ${v}, expected ${version}` });
};

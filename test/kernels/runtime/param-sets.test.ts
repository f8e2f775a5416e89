// Parameter sets in a kernel worker: summed gradients, an AdamW step over their mean, and the
// optimizer state saved and restored (a joiner taking over a stage's moments) with the same bytes,
// and the versions of the weights: content hashes, the last few read by runs kept to be opened.
import { describe, expect, it } from "vitest";
import { blobRef, f32ToBytes } from "../../../src/actors/swarm/blob-store.js";
import { ParamSet } from "../../../src/kernels/runtime/param-sets.js";

const spec = { tensors: [{ name: "w", dims: [3, 2] }, { name: "b", dims: [2] }] };
const create = { sizes: [6, 2], config: { lr: 0.01, weightDecay: 0.1, clipNorm: 1 }, decay: [true, false] };
const grads = (x: number) => new Map([["w", { dims: [3, 2], data: Float32Array.from({ length: 6 }, (_, i) => x * (i - 2.5)) }], ["b", { dims: [2], data: Float32Array.of(x, -x) }]]);
const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("parameter sets", () => {
  it("step over the mean of the summed gradients, refusing a miscounted step", () => {
    const a = new ParamSet(spec);
    a.load(Float32Array.of(1, 2, 3, 4, 5, 6, 0.5, -0.5));
    a.accumulate(grads(1));
    a.accumulate(grads(3));
    expect(() => a.step(create, 3, 0.01)).toThrow(/2 were accumulated/);
    const b = new ParamSet(spec);
    b.load(Float32Array.of(1, 2, 3, 4, 5, 6, 0.5, -0.5));
    b.accumulate(grads(2)); // the mean of 1 and 3
    a.step(create, 2, 0.01);
    b.step(create, 1, 0.01);
    expect(bytes(a.flat).equals(bytes(b.flat))).toBe(true);
  });

  it("carry their AdamW state over: a restored set steps exactly like the original", () => {
    const a = new ParamSet(spec);
    a.load(Float32Array.of(1, 2, 3, 4, 5, 6, 0.5, -0.5));
    expect(a.saveOptimizer()).toBeUndefined(); // no step yet
    for (const x of [1, -2, 0.5]) {
      a.accumulate(grads(x));
      a.step(create, 1, 0.01);
    }
    const state = a.saveOptimizer() as Uint8Array;
    const b = new ParamSet(spec);
    b.load(a.flat);
    expect(b.restoreOptimizer(create, state)).toBe(3);
    a.accumulate(grads(0.7));
    b.accumulate(grads(0.7));
    a.step(create, 1, 0.01);
    b.step(undefined, 1, 0.01);
    expect(bytes(b.flat).equals(bytes(a.flat))).toBe(true);
  });

  it("refuse an optimizer state of other shapes or with non-finite moments", () => {
    const a = new ParamSet(spec);
    a.accumulate(grads(1));
    a.step(create, 1, 0.01);
    const state = a.saveOptimizer() as Uint8Array;
    const other = new ParamSet({ tensors: [{ name: "w", dims: [8] }] });
    expect(() => other.restoreOptimizer({ ...create, sizes: [8], decay: [true] }, state)).toThrow(/does not fit/);
    const poisoned = state.slice();
    new DataView(poisoned.buffer).setFloat32(poisoned.length - 4, Number.NaN, true); // the last second moment
    expect(() => new ParamSet(spec).restoreOptimizer(create, poisoned)).toThrow(/non-finite or negative/);
  });
});

describe("parameter set versions", () => {
  const w0 = Float32Array.of(1, 2, 3, 4, 5, 6, 0.5, -0.5);
  const loaded = (opts: { readonly keep?: number } = {}): ParamSet => {
    const s = new ParamSet(spec, opts);
    s.load(w0);
    return s;
  };
  const stepped = (s: ParamSet, x: number): void => {
    s.accumulate(grads(x));
    s.step(create, 1, 0.01);
  };

  it("name the weights by the blob ref of their float32 bytes, unchanged until a load, blend or step", () => {
    const s = loaded();
    const v0 = s.version();
    expect(v0).toBe(blobRef(f32ToBytes(w0)));
    s.accumulate(grads(1)); // gradients are not weights
    expect(s.version()).toBe(v0);
    s.step(create, 1, 0.01);
    const v1 = s.version();
    expect(v1).not.toBe(v0);
    expect(v1).toBe(blobRef(f32ToBytes(s.flat)));
    s.blend([{ start: 2, values: Float32Array.of(9) }], undefined);
    const v2 = s.version();
    expect(v2).not.toBe(v1);
    expect(v2).toBe(blobRef(f32ToBytes(s.flat)));
    s.load(w0); // the same bytes are the same version
    expect(s.version()).toBe(v0);
  });

  it("forget the cached version when a blend is refused midway, since its earlier parts were written", () => {
    const s = loaded();
    const v0 = s.version();
    expect(() => s.blend([{ start: 0, values: Float32Array.of(7) }, { start: 7, values: Float32Array.of(1, 2) }], undefined)).toThrow(/fall outside/);
    expect(s.flat[0]).toBe(7);
    expect(s.version()).not.toBe(v0);
    expect(s.version()).toBe(blobRef(f32ToBytes(s.flat)));
  });

  it("keep the last `keep` versions runs read and open copies of them", () => {
    const s = loaded({ keep: 2 });
    const seen: { v: string; w: Float32Array }[] = [];
    for (let i = 0; i < 3; i++) {
      seen.push({ v: s.keepVersion(), w: s.flat.slice() });
      stepped(s, i + 1);
    }
    const [a, b, c] = seen as [(typeof seen)[0], (typeof seen)[0], (typeof seen)[0]];
    expect(s.opened(a.v)).toBeUndefined(); // evicted by the third
    expect(Buffer.from(f32ToBytes(s.opened(b.v) as Float32Array)).equals(Buffer.from(f32ToBytes(b.w)))).toBe(true);
    const opened = s.opened(c.v) as Float32Array;
    expect(blobRef(f32ToBytes(opened))).toBe(c.v);
    opened.fill(0); // a copy: the kept version is untouched
    expect(blobRef(f32ToBytes(s.opened(c.v) as Float32Array))).toBe(c.v);
    expect(s.opened("00".repeat(32))).toBeUndefined();
  });

  it("make a version read again the newest, so the weights in use are the last to be evicted", () => {
    const s = loaded({ keep: 2 });
    const v0 = s.keepVersion();
    stepped(s, 1);
    s.keepVersion();
    s.load(w0); // back to the first weights, read again
    expect(s.keepVersion()).toBe(v0);
    stepped(s, 2);
    s.keepVersion(); // evicts the stepped version, not v0
    expect(s.opened(v0)).toBeDefined();
  });

  it("keep nothing with keep 0, and drop the oldest at once when keep is lowered", () => {
    const none = loaded({ keep: 0 });
    const v = none.keepVersion();
    expect(v).toBe(none.version());
    expect(none.opened(v)).toBeUndefined();
    const s = loaded({ keep: 3 });
    const vs: string[] = [];
    for (let i = 0; i < 3; i++) {
      vs.push(s.keepVersion());
      stepped(s, i + 1);
    }
    s.keep = 1;
    expect(vs.map((x) => s.opened(x) !== undefined)).toEqual([false, false, true]);
    expect(() => new ParamSet(spec, { keep: -1 })).toThrow(/keep must be/);
    expect(() => { s.keep = 1.5; }).toThrow(/keep must be/);
  });

  it("open every kept version to its own bytes while evicted buffers are reused, and after keep is lowered and raised", () => {
    const s = loaded({ keep: 4 });
    const seen: { v: string; w: Float32Array }[] = [];
    const keepSteps = (from: number, n: number): void => {
      for (let i = from; i < from + n; i++) {
        seen.push({ v: s.keepVersion(), w: s.flat.slice() });
        stepped(s, i + 1);
      }
    };
    const openable = (): boolean[] => seen.map(({ v, w }) => {
      const o = s.opened(v);
      return o !== undefined && Buffer.from(f32ToBytes(o)).equals(Buffer.from(f32ToBytes(w)));
    });
    keepSteps(0, 11); // 7 evictions, each buffer reused
    expect(openable()).toEqual([...Array<boolean>(7).fill(false), true, true, true, true]);
    s.keep = 2;
    s.keep = 6;
    keepSteps(11, 5);
    // The two kept through the lowering, then the five new ones, minus the oldest beyond six.
    expect(openable().slice(9)).toEqual([false, true, true, true, true, true, true]);
    expect(openable().slice(0, 9).some(Boolean)).toBe(false);
  });
});

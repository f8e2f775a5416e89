// Worker-side stashes: tensors a run keeps in its worker thread (a forward's saved activations, its
// parameters and input) for a later run on the same worker (the backward), so they never cross to
// the main thread and back; and a recycler that hands a released stash's buffers to the next run's
// preallocated outputs, so a steady pipeline stops allocating (and collecting) tens of MB per step.
import type { Tensor } from "./tensor.js";

/** Float32 buffers by length, reused for outputs; bounded so an idle worker does not hoard memory. */
export class Recycler {
  private readonly free = new Map<number, Float32Array[]>();
  private bytes = 0;

  constructor(private readonly maxBytes = 256 * 1024 * 1024) {}

  /** A float32 array of `n` elements: a recycled one (stale contents: only for outputs ORT overwrites) or a fresh one. */
  take(n: number): Float32Array {
    const list = this.free.get(n);
    const got = list?.pop();
    if (got === undefined) return new Float32Array(n);
    this.bytes -= got.byteLength;
    return got;
  }

  /** Offers arrays for reuse (each must be owned by no one else and not aliased). */
  give(arrays: Iterable<Tensor["data"]>): void {
    for (const a of arrays) {
      if (!(a instanceof Float32Array) || a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength || a.length === 0) continue;
      if (this.bytes + a.byteLength > this.maxBytes) continue;
      const list = this.free.get(a.length) ?? [];
      list.push(a);
      this.free.set(a.length, list);
      this.bytes += a.byteLength;
    }
  }

  /** Bytes held for reuse. */
  held(): number {
    return this.bytes;
  }
}

/** Stashed tensors by stash id, each a set of named tensors. */
export class Stashes {
  private readonly stashes = new Map<string, Map<string, Tensor>>();

  constructor(private readonly recycler: Recycler) {}

  /** Adds named tensors to stash `id` (created on first use). */
  put(id: string, tensors: Readonly<Record<string, Tensor>>): void {
    const s = this.stashes.get(id) ?? new Map<string, Tensor>();
    for (const [k, t] of Object.entries(tensors)) s.set(k, t);
    this.stashes.set(id, s);
  }

  /** The stash's tensors, or undefined when there is no such stash. */
  get(id: string): ReadonlyMap<string, Tensor> | undefined {
    return this.stashes.get(id);
  }

  /** Forgets stash `id` and recycles its buffers. */
  release(id: string): void {
    const s = this.stashes.get(id);
    if (s === undefined) return;
    this.stashes.delete(id);
    this.recycler.give(new Set([...s.values()].map((t) => t.data)));
  }

  /** Number of live stashes. */
  get size(): number {
    return this.stashes.size;
  }
}

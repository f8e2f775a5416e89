// A RunModel (the model helper's runtime hook) over the worker-thread KernelPool: each emitted
// model loads once under its own key, then runs off the main event loop.
import type { EmittedModel } from "../autodiff/emit.js";
import type { RunModel } from "../model/runner.js";
import { KernelPool } from "../runtime/pool.js";

/** A RunModel plus the pool behind it; `release()` closes the pool. */
export type PoolRun = { readonly run: RunModel; readonly pool: KernelPool; readonly release: () => Promise<void> };

/** Starts a one-worker pool with `threads` intra-op threads. */
export const poolRun = async (threads: number): Promise<PoolRun> => {
  const pool = await KernelPool.create({ workers: 1, threadsPerWorker: threads });
  const keys = new Map<EmittedModel, Promise<string>>();
  let next = 0;
  const keyOf = (m: EmittedModel): Promise<string> => {
    let k = keys.get(m);
    if (k === undefined) {
      const key = `m${next++}`;
      k = pool.load(key, m.bytes).then(() => key);
      keys.set(m, k);
    }
    return k;
  };
  const run: RunModel = async (model, feeds) => pool.run(await keyOf(model), { ...feeds });
  return { run, pool, release: () => pool.close() };
};

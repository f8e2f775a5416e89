// A RunModel (the model helper's runtime hook) on its own one-worker KernelPool: the model runner
// of src/kernels/model/local-run.ts over a pool this function starts and `release()` closes.
import { poolRun as runOnPool } from "../model/local-run.js";
import { KernelPool } from "../runtime/pool.js";
import type { RunModel } from "../model/runner.js";

/** A RunModel plus the pool behind it; `release()` closes the pool. */
export type PoolRun = { readonly run: RunModel; readonly pool: KernelPool; readonly release: () => Promise<void> };

/** Starts a one-worker pool with `threads` intra-op threads and runs models on it. */
export const poolRun = async (threads: number): Promise<PoolRun> => {
  const pool = await KernelPool.create({ workers: 1, threadsPerWorker: threads });
  const { run } = runOnPool(pool, "m");
  return { run, pool, release: () => pool.close() };
};

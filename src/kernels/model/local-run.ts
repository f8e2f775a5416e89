// RunModel adapters: in-process over KernelSession (one session per emitted model, opened on
// first use), or over the runtime's KernelPool of worker threads.

import type { EmittedModel } from "../autodiff/emit.js";
import type { KernelPool } from "../runtime/pool.js";
import { KernelSession } from "../runtime/session.js";
import type { RunModel } from "./runner.js";

/** A RunModel plus `release()` for the sessions it opened (a scoped resource). */
export type LocalRun = { readonly run: RunModel; readonly release: () => Promise<void> };

/** Opens sessions lazily with `threads` intra-op threads (default 1). */
export const localRun = (threads = 1): LocalRun => {
  const sessions = new Map<EmittedModel, Promise<KernelSession>>();
  const run: RunModel = async (model, feeds, preallocated) => {
    let s = sessions.get(model);
    if (s === undefined) {
      s = KernelSession.create(model.bytes, { threads, provider: "cpu" });
      sessions.set(model, s);
    }
    return (await s).run(feeds, undefined, preallocated);
  };
  const release = async (): Promise<void> => {
    const all = [...sessions.values()];
    sessions.clear();
    for (const s of all) await (await s).release();
  };
  return { run, release };
};

/**
 * A RunModel over the runtime's worker pool (event loop never blocked): each emitted model is
 * loaded once under `${prefix}:<n>`; `release()` unloads them (the pool itself stays open).
 */
export const poolRun = (pool: KernelPool, prefix = "model"): LocalRun => {
  const keys = new Map<EmittedModel, Promise<string>>();
  let next = 0;
  const run: RunModel = async (model, feeds, preallocated) => {
    let key = keys.get(model);
    if (key === undefined) {
      const k = `${prefix}:${next++}`;
      key = pool.load(k, model.bytes).then(() => k);
      keys.set(model, key);
    }
    return pool.run(await key, { ...feeds }, undefined, preallocated === undefined ? {} : { preallocated: { ...preallocated } });
  };
  const release = async (): Promise<void> => {
    const all = [...keys.values()];
    keys.clear();
    for (const k of all) await pool.unload(await k);
  };
  return { run, release };
};

// An in-process RunModel over KernelSession: one session per emitted model, created on first use.
// Good for tests and single-process training; the swarm uses the runtime's worker pool instead.
import type { EmittedModel } from "../autodiff/emit.js";
import { KernelSession } from "../runtime/session.js";
import type { RunModel } from "./runner.js";

/** A RunModel plus `release()` for the sessions it opened (a scoped resource). */
export type LocalRun = { readonly run: RunModel; readonly release: () => Promise<void> };

/** Opens sessions lazily with `threads` intra-op threads (default 1). */
export const localRun = (threads = 1): LocalRun => {
  const sessions = new Map<EmittedModel, Promise<KernelSession>>();
  const run: RunModel = async (model, feeds) => {
    let s = sessions.get(model);
    if (s === undefined) {
      s = KernelSession.create(model.bytes, { threads, provider: "cpu" });
      sessions.set(model, s);
    }
    return (await s).run(feeds);
  };
  const release = async (): Promise<void> => {
    const all = [...sessions.values()];
    sessions.clear();
    for (const s of all) await (await s).release();
  };
  return { run, release };
};

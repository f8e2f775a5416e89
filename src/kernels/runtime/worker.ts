// The worker-thread side of KernelPool: owns KernelSessions by key, runs them off the main
// event loop, preallocates statically shaped float outputs and transfers results back; keeps
// stashed tensors for later runs on this worker and recycles their buffers. Requests are handled one
// at a time, in arrival order (see the queue at the end).
import { parentPort } from "node:worker_threads";
import { KernelFailed } from "./errors.js";
import { buffersOf, type WorkerReply, type WorkerRequest } from "./protocol.js";
import { ParamSet } from "./param-sets.js";
import { KernelSession } from "./session.js";
import { Recycler, Stashes } from "./stash.js";
import type { Tensor } from "./tensor.js";

const port = parentPort;
if (port === null) throw new Error("kernel worker must run in a worker thread");
const sessions = new Map<string, KernelSession>();
const recycler = new Recycler();
const stashes = new Stashes(recycler);
const sets = new Map<string, ParamSet>();

const paramSet = (key: string): ParamSet => {
  const set = sets.get(key);
  if (set === undefined) throw new KernelFailed({ reason: "unknown-model", message: `no parameter set "${key}" on this worker` });
  return set;
};

const handle = async (req: WorkerRequest): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> => {
  switch (req.op) {
    case "load": {
      await sessions.get(req.key)?.release();
      const s = await KernelSession.create(req.model, { threads: req.threads, ...(req.provider ? { provider: req.provider } : {}) });
      sessions.set(req.key, s);
      return { reply: { id: req.id, ok: true, info: { inputNames: s.inputNames, outputNames: s.outputNames, provider: s.provider } }, transfer: [] };
    }
    case "unload": {
      await sessions.get(req.key)?.release();
      sessions.delete(req.key);
      return { reply: { id: req.id, ok: true }, transfer: [] };
    }
    case "params": {
      if (req.action === "set") {
        const had = sets.get(req.key);
        const set = had ?? new ParamSet(req.spec, req.keep === undefined ? {} : { keep: req.keep });
        if (had !== undefined && req.keep !== undefined) had.keep = req.keep;
        set.load(req.data);
        sets.set(req.key, set);
        return { reply: { id: req.id, ok: true }, transfer: [] };
      }
      if (req.action === "version") return { reply: { id: req.id, ok: true, version: paramSet(req.key).version() }, transfer: [] };
      if (req.action === "open") {
        const w = paramSet(req.key).opened(req.hash);
        return w === undefined
          ? { reply: { id: req.id, ok: true }, transfer: [] }
          : { reply: { id: req.id, ok: true, outputs: { params: { dims: [w.length], data: w } } }, transfer: [w.buffer as ArrayBuffer] };
      }
      if (req.action === "blend") {
        if (req.base === undefined) {
          paramSet(req.key).blend(req.parts, undefined);
          return { reply: { id: req.id, ok: true }, transfer: [] };
        }
        const consensus = paramSet(req.key).blendToConsensus(req.parts, req.base);
        return { reply: { id: req.id, ok: true, outputs: { consensus: { dims: [consensus.length], data: consensus } } }, transfer: [consensus.buffer as ArrayBuffer] };
      }
      if (req.action === "saveOptimizer") {
        const bytes = paramSet(req.key).saveOptimizer();
        return { reply: { id: req.id, ok: true, ...(bytes === undefined ? {} : { bytes }) }, transfer: bytes === undefined ? [] : [bytes.buffer as ArrayBuffer] };
      }
      if (req.action === "restoreOptimizer") {
        const steps = paramSet(req.key).restoreOptimizer(req.create, req.bytes);
        return { reply: { id: req.id, ok: true, steps }, transfer: [] };
      }
      if (req.action === "forget") {
        sets.delete(req.key);
        return { reply: { id: req.id, ok: true }, transfer: [] };
      }
      const copy = paramSet(req.key).flat.slice();
      return { reply: { id: req.id, ok: true, outputs: { params: { dims: [copy.length], data: copy } } }, transfer: [copy.buffer] };
    }
    case "optimize": {
      const set = paramSet(req.key);
      const report = set.step(req.create, req.microbatches, req.lr);
      return { reply: { id: req.id, ok: true, report, version: set.version() }, transfer: [] };
    }
    case "drop": {
      for (const id of req.stashes) stashes.release(id);
      return { reply: { id: req.id, ok: true }, transfer: [] };
    }
    case "run": {
      const s = sessions.get(req.key);
      if (s === undefined) throw new KernelFailed({ reason: "unknown-model", message: `no model loaded under "${req.key}"` });
      let feeds: Record<string, Tensor> = req.feeds;
      if (req.use !== undefined) {
        const st = stashes.get(req.use.id);
        if (st === undefined) throw new KernelFailed({ reason: "unknown-stash", message: `no stash "${req.use.id}" on this worker` });
        const inputs = new Set(s.inputNames);
        const merged: Record<string, Tensor> = {};
        for (const [k, t] of st) if (inputs.has(k) && !(k in req.feeds)) merged[k] = t;
        feeds = { ...merged, ...req.feeds };
      }
      // Parameters from a set: views of its live weights (copied below if a stash keeps them). Its
      // version is taken here, and no other request runs before this one is done (the queue).
      const fromSet = new Set<string>();
      let version: string | undefined;
      if (req.params !== undefined) {
        const set = paramSet(req.params);
        if (req.version === true) version = set.keepVersion();
        const withParams: Record<string, Tensor> = {};
        for (const n of s.inputNames) {
          const t = n in feeds ? undefined : set.tensor(n);
          if (t === undefined) continue;
          withParams[n] = t;
          fromSet.add(n);
        }
        feeds = { ...withParams, ...feeds };
      }
      const sums = req.accumulate;
      const kept = new Set(req.keep?.outputs ?? []);
      const wanted = req.outputNames ?? s.outputNames;
      const fetch = [...new Set([...wanted, ...kept, ...Object.keys(sums?.outputs ?? {})])];
      // Preallocate every statically shaped float output the caller did not supply: ORT-allocated
      // large outputs are ~10x slower here, and a JS buffer can be transferred back. Buffers come
      // from released stashes when there are any (ORT overwrites every element of an output).
      const pre: Record<string, Tensor> = { ...req.preallocated };
      for (const n of fetch) {
        const meta = s.staticOutputs[n];
        if (pre[n] === undefined && meta !== undefined && meta.type === "float32") {
          pre[n] = { dims: meta.dims, data: recycler.take(meta.dims.reduce((a, b) => a * b, 1)) };
        }
      }
      const all = await s.run(feeds, fetch, pre);
      if (req.keep !== undefined) {
        const keep: Record<string, Tensor> = {};
        for (const n of kept) keep[n] = all[n] as Tensor;
        for (const n of req.keep.feeds) {
          const t = feeds[n];
          if (t === undefined) continue;
          // A set's weights change with its next step: the stash keeps the ones this run used.
          if (fromSet.has(n) && t.data instanceof Float32Array) {
            const copy = recycler.take(t.data.length);
            copy.set(t.data);
            keep[n] = { dims: t.dims, data: copy };
          } else keep[n] = t;
        }
        stashes.put(req.keep.id, keep);
      }
      if (req.use?.release === true) stashes.release(req.use.id);
      if (sums !== undefined) {
        const grads = new Map<string, Tensor>();
        for (const [out, param] of Object.entries(sums.outputs)) {
          const t = all[out];
          if (t !== undefined) grads.set(param, t);
        }
        paramSet(sums.set).accumulate(grads);
        recycler.give([...grads.values()].map((t) => t.data));
      }
      const outputs: Record<string, Tensor> = {};
      for (const n of wanted) if (!kept.has(n) && !(n in (sums?.outputs ?? {}))) outputs[n] = all[n] as Tensor;
      return { reply: { id: req.id, ok: true, outputs, ...(version === undefined ? {} : { version }) }, transfer: buffersOf(Object.values(outputs)) };
    }
  }
};

const serve = (req: WorkerRequest): Promise<void> =>
  handle(req).then(
    ({ reply, transfer }) => {
      try {
        port.postMessage(reply, transfer);
      } catch {
        port.postMessage(reply); // a buffer ORT owns cannot be transferred: copy it instead
      }
    },
    (err: unknown) => {
      const reply: WorkerReply = err instanceof KernelFailed
        ? { id: req.id, ok: false, reason: err.reason, message: err.message }
        : { id: req.id, ok: false, reason: "ort", message: err instanceof Error ? err.message : String(err) };
      port.postMessage(reply);
    },
  );

// One request at a time, in arrival order. onnxruntime-node runs a session from a setImmediate, so
// without the queue the requests delivered in the same batch as a run (a blend, a step) would all be
// handled before that run reads its parameters: the run would read weights sent after it, and the
// version it reports would not be the one it read. Native work blocks this thread anyway, so the
// queue costs no parallelism.
let queue: Promise<void> = Promise.resolve();
port.on("message", (req: WorkerRequest) => {
  // A reply that cannot be posted rejects: unhandled, it ends the worker, and the pool fails every pending request.
  queue = queue.then(() => serve(req));
});

// The worker-thread side of KernelPool: owns KernelSessions by key, runs them off the main
// event loop, preallocates statically shaped float outputs and transfers results back; keeps
// stashed tensors for later runs on this worker and recycles their buffers.
import { parentPort } from "node:worker_threads";
import { AdamW } from "../optim/adamw.js";
import { KernelFailed } from "./errors.js";
import { buffersOf, type WorkerReply, type WorkerRequest } from "./protocol.js";
import { KernelSession } from "./session.js";
import { Recycler, Stashes } from "./stash.js";
import type { Tensor } from "./tensor.js";

const port = parentPort;
if (port === null) throw new Error("kernel worker must run in a worker thread");
const sessions = new Map<string, KernelSession>();
const recycler = new Recycler();
const stashes = new Stashes(recycler);
const optimizers = new Map<string, AdamW>();

/** Consecutive views of `flat`, one per size. */
const split = (flat: Float32Array, sizes: readonly number[]): Float32Array[] => {
  let at = 0;
  return sizes.map((n) => flat.subarray(at, (at += n)));
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
    case "optimize": {
      let opt = optimizers.get(req.key);
      if (opt === undefined) {
        if (req.create === undefined) throw new KernelFailed({ reason: "unknown-model", message: `no optimizer "${req.key}" on this worker` });
        opt = new AdamW(req.create.sizes, req.create.config, req.create.decay);
        optimizers.set(req.key, opt);
      }
      const total = opt.sizes.reduce((a, b) => a + b, 0);
      if (req.params.length !== total || req.grads.length !== total) throw new KernelFailed({ reason: "bad-tensor", message: `optimizer "${req.key}" steps ${total} values, got ${req.params.length} parameters and ${req.grads.length} gradients` });
      const g = req.grads;
      const n = req.microbatches;
      // The mean over the microbatches, rounded to float32 like every other gradient buffer.
      if (n > 1) for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) / n;
      const report = opt.step(split(req.params, opt.sizes), split(g, opt.sizes), req.lr);
      return { reply: { id: req.id, ok: true, outputs: { params: { dims: [total], data: req.params } }, report }, transfer: [req.params.buffer as ArrayBuffer] };
    }
    case "forget": {
      optimizers.delete(req.key);
      return { reply: { id: req.id, ok: true }, transfer: [] };
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
      const kept = new Set(req.keep?.outputs ?? []);
      const wanted = req.outputNames ?? s.outputNames;
      const fetch = [...new Set([...wanted, ...kept])];
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
          if (t !== undefined) keep[n] = t;
        }
        stashes.put(req.keep.id, keep);
      }
      if (req.use?.release === true) stashes.release(req.use.id);
      const outputs: Record<string, Tensor> = {};
      for (const n of wanted) if (!kept.has(n)) outputs[n] = all[n] as Tensor;
      return { reply: { id: req.id, ok: true, outputs }, transfer: buffersOf(Object.values(outputs)) };
    }
  }
};

port.on("message", (req: WorkerRequest) => {
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
});

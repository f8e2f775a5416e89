// The worker-thread side of KernelPool: owns KernelSessions by key, runs them off the main
// event loop, preallocates statically shaped float outputs and transfers results back.
import { parentPort } from "node:worker_threads";
import { KernelFailed } from "./errors.js";
import { buffersOf, type WorkerReply, type WorkerRequest } from "./protocol.js";
import { KernelSession } from "./session.js";
import type { Tensor } from "./tensor.js";

const port = parentPort;
if (port === null) throw new Error("kernel worker must run in a worker thread");
const sessions = new Map<string, KernelSession>();

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
    case "run": {
      const s = sessions.get(req.key);
      if (s === undefined) throw new KernelFailed({ reason: "unknown-model", message: `no model loaded under "${req.key}"` });
      const wanted = req.outputNames ?? s.outputNames;
      // Preallocate every statically shaped float output the caller did not supply: ORT-allocated
      // large outputs are ~10x slower here, and a fresh JS buffer can be transferred back.
      const pre: Record<string, Tensor> = { ...req.preallocated };
      for (const n of wanted) {
        const meta = s.staticOutputs[n];
        if (pre[n] === undefined && meta !== undefined && meta.type === "float32") {
          pre[n] = { dims: meta.dims, data: new Float32Array(meta.dims.reduce((a, b) => a * b, 1)) };
        }
      }
      const outputs = await s.run(req.feeds, wanted, pre);
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

// Worker-thread entry of KernelPool: registers tsx in this thread (a worker does not inherit the
// parent's loader hooks, and Node 20 ignores --import in worker execArgv) and loads worker.ts.
// The big plain-JS dependencies load first, natively: through tsx's loader hooks, effect's few
// hundred modules took 1.3-1.9 s per worker here; natively ~0.3 s, and tsx then hits the cache.
await import("effect");
await import("onnxruntime-node");
const { register } = await import("tsx/esm/api");
register();
await import("./worker.ts");

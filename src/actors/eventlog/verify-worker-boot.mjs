// Worker-thread entry of verifiedReplay: registers tsx in this thread (a worker does not inherit
// the parent's loader hooks, and Node 20 ignores --import in worker execArgv), loads the worker.
// The big plain-JS dependencies load first, natively (through tsx's hooks effect's few hundred
// modules are several times slower to load); tsx then finds them in the module cache.
await import("effect");
await import("@polkadot/util-crypto");
const { register } = await import("tsx/esm/api");
register();
await import("./verify-worker.ts");

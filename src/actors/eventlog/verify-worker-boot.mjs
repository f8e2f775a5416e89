// Worker-thread entry of verifiedReplay: registers tsx in this thread (a worker does not inherit
// the parent's loader hooks, and Node 20 ignores --import in worker execArgv), loads the worker.
import { register } from "tsx/esm/api";
register();
await import("./verify-worker.ts");

// Worker-thread entry of KernelPool: registers tsx in this thread (a worker does not inherit the
// parent's loader hooks, and Node 20 ignores --import in worker execArgv) and loads worker.ts.
import { register } from "tsx/esm/api";
register();
await import("./worker.ts");

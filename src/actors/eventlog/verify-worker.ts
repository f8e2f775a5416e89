// The verifying side of verifiedReplay, in a worker thread: feeds each stored message's bytes to a
// streaming LogVerifier (LogVerifier.message), so the main thread only reads from the bus.
import { parentPort } from "node:worker_threads";
import { nodeCrypto } from "../identity/index.js";
import type { EventRegistry } from "../../events/registry.js";
import { LogVerifier } from "../../events/verify.js";
import type { FromVerifier, ToVerifier } from "./verify-protocol.js";

const port = parentPort;
if (port === null) throw new Error("verify-worker must run in a worker thread");
const send = (m: FromVerifier): void => port.postMessage(m);
let registry: EventRegistry | undefined;
let verifier: LogVerifier | undefined;
let failedAt: number | undefined;

port.on("message", (m: ToVerifier) => {
  void (async () => {
    try {
      if (m.kind === "load") {
        const mod = (await import(m.registryModule)) as Record<string, unknown>;
        const factory = mod[m.registryExport];
        if (typeof factory !== "function") throw new Error(`${m.registryModule} has no function ${m.registryExport}`);
        registry = (factory as () => EventRegistry)();
        send({ kind: "ready" });
      } else if (m.kind === "start") {
        if (registry === undefined) throw new Error("verify worker: start before load");
        verifier = new LogVerifier(nodeCrypto, registry, { run: m.run, fullSignatures: m.fullSignatures });
        failedAt = undefined;
        send({ kind: "started" });
      } else if (m.kind === "chunk") {
        const v = verifier as LogVerifier;
        for (let i = 0; i < m.seqs.length && failedAt === undefined; i++) {
          const seq = m.seqs[i] as number;
          if (!v.message(seq, m.bytes.subarray(m.offsets[i], m.offsets[i + 1]))) failedAt = seq;
        }
        send({ kind: "done-chunk" });
      } else {
        send({ kind: "result", result: (verifier as LogVerifier).result() });
      }
    } catch (e) {
      send({ kind: "error", message: e instanceof Error ? e.message : String(e) });
    }
  })();
});

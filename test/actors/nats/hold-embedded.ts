// Child process for embedded.int.test.ts: starts an embedded server, prints where it is, waits
// to be signalled (or to exit on its own with `exit` as argument).
import { startEmbeddedNats } from "../../../src/actors/nats/embedded.js";

const nats = await startEmbeddedNats();
process.stdout.write(`${JSON.stringify({ pid: nats.pid, dir: nats.storeDir, url: nats.url })}\n`);
if (process.argv[2] === "exit") process.exit(0);
setInterval(() => undefined, 1_000);

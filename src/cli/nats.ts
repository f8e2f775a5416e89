// `swarmline nats`: runs an embedded nats-server (JetStream, temporary directory) in the
// foreground, prints its URL, and stops it and removes its directory on Ctrl-C.
import { type Command, InvalidArgumentError } from "commander";
import { startEmbeddedNats } from "../actors/nats/embedded.js";
import { setExit } from "./main.js";

export const registerNats = (program: Command): void => {
  program
    .command("nats")
    .description("Run a local nats-server with JetStream in a temporary directory until Ctrl-C; prints its URL")
    .option("--port <port>", "client port (default: a free one)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError("expected a port number 1-65535 (or omit --port for a free one)");
      return n;
    })
    .option("--json", "print the server's URL, ports and directory as one JSON line")
    .action(async (opts: { port?: number; json?: boolean }) => {
      let nats;
      try {
        nats = await startEmbeddedNats(opts.port === undefined ? {} : { port: opts.port });
      } catch (e) {
        process.stderr.write(`swarmline nats: ${e instanceof Error ? e.message : String(e)}\n`);
        setExit(1);
        return;
      }
      const info = { url: nats.url, port: nats.port, monitorPort: nats.monitorPort, storeDir: nats.storeDir, pid: nats.pid };
      if (opts.json === true) process.stdout.write(`${JSON.stringify(info)}\n`);
      else {
        process.stdout.write(`${nats.url}\n`);
        process.stderr.write(`nats-server ${nats.pid} with JetStream in ${nats.storeDir}; monitor http://127.0.0.1:${nats.monitorPort}; Ctrl-C stops it\n`);
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          process.removeListener("SIGINT", done);
          process.removeListener("SIGTERM", done);
          resolve();
        };
        process.on("SIGINT", done);
        process.on("SIGTERM", done);
      });
      await nats.stop();
      if (opts.json !== true) process.stderr.write("nats-server stopped\n");
    });
};

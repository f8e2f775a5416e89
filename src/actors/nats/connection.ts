// Connecting to NATS as a scoped Effect resource, with connection failures as NatsUnavailable.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Effect } from "effect";
import { NatsUnavailable } from "../eventlog/errors.js";

export type { NatsConnection };

/** Connects to `url` (comma-separated for a cluster); the connection drains when the scope closes. */
export const natsConnection = (url: string, name = "swarmline") =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => connect({ servers: url.split(","), name, maxReconnectAttempts: -1 }),
      catch: (e) => new NatsUnavailable({ message: `cannot connect to ${url}: ${e instanceof Error ? e.message : String(e)}` }),
    }),
    (nc) => Effect.promise(() => nc.drain().catch(() => nc.close())),
  );

/** Promise form for scripts and tests: connect, and close yourself with `nc.drain()`. */
export const connectNats = async (url: string, name = "swarmline"): Promise<NatsConnection> => {
  try {
    return await connect({ servers: url.split(","), name, maxReconnectAttempts: -1 });
  } catch (e) {
    throw new NatsUnavailable({ message: `cannot connect to ${url}: ${e instanceof Error ? e.message : String(e)}` });
  }
};

// Which runs a NATS server holds: the names of the runs whose facts streams exist, so a miner
// started without --run can find the one run on the server (and name the choices when there are several).
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { streams } from "../../events/subjects.js";

const PREFIX = streams.facts("x").slice(0, -1);

/** The runs with a facts stream on the server, sorted by name. */
export const listRuns = async (nc: NatsConnection): Promise<string[]> => {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const out: string[] = [];
  for await (const name of jsm.streams.names()) if (name.startsWith(PREFIX)) out.push(name.slice(PREFIX.length));
  return out.sort();
};

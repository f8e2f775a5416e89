// Consumer housekeeping for the swarm hosts: a host's feed is one process's reading of a run, not
// something to resume, so its durable consumer is removed when the host stops.
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { streams } from "../../events/subjects.js";

/** Deletes the durable consumer `name` on the run's facts stream (absent is fine). */
export const deleteFactsConsumer = async (nc: NatsConnection, run: string, name: string): Promise<void> => {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  await jsm.consumers.delete(streams.facts(run), name).catch(() => undefined);
};

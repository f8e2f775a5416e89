// The EventLog contract against JetStream on a real nats-server started for this file.
import { afterAll, beforeAll } from "vitest";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { layerNats } from "../../../src/actors/nats/eventlog.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../../src/actors/nats/testing.js";
import { eventLogContract } from "./contract.js";

let nats: EmbeddedNats;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startEmbeddedNats();
  nc = await connectNats(nats.url);
});
afterAll(async () => {
  await nc?.drain();
  await nats?.stop();
});

eventLogContract("nats", () => layerNats(nc));

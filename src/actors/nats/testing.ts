// Helpers for integration tests that need a real nats-server: start one on a free loopback port,
// use it, stop it (directory removed). Reused by every *.int.test.ts in the project.
import { type EmbeddedNats, type EmbeddedNatsOptions, startEmbeddedNats } from "./embedded.js";

export { natsServerAvailable, startEmbeddedNats, type EmbeddedNats } from "./embedded.js";

/**
 * Runs `body` against a fresh embedded nats-server and stops it afterwards, even on failure.
 * In vitest, the equivalent with hooks is:
 *   let nats: EmbeddedNats;
 *   beforeAll(async () => { nats = await startEmbeddedNats(); });
 *   afterAll(() => nats.stop());
 */
export const withNatsServer = async <A>(body: (nats: EmbeddedNats) => Promise<A>, options?: EmbeddedNatsOptions): Promise<A> => {
  const nats = await startEmbeddedNats(options);
  try {
    return await body(nats);
  } finally {
    await nats.stop();
  }
};

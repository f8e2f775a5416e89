// A secured server reloads its authorization whenever the gatekeeper admits or removes a member,
// and nats-server 2.9.10 drops its JetStream API for a moment on each reload. A member's blob
// reads, blob writes and API calls made meanwhile must still succeed (the sim --secure CI failure:
// a miner's weights read failed with "jetstream is not enabled" while another miner joined).
import { availableParallelism } from "node:os";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadHotkey } from "../../../src/actors/identity/index.js";
import { sessionKey } from "../../../src/actors/identity/session.js";
import { natsBlobStore } from "../../../src/actors/nats/blobs.js";
import { connectNats, jetStreamApiRetries, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { ensureRunStreams } from "../../../src/actors/nats/eventlog.js";
import { nkeyOfEd25519, sessionAuthenticator } from "../../../src/actors/nats/nkey.js";
import { authorizationConf, inboxPrefix, type NatsUser } from "../../../src/actors/nats/permissions.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../../src/actors/nats/testing.js";
import { streams } from "../../../src/events/subjects.js";
import type { BlobStore } from "../../../src/actors/swarm/blob-store.js";

const RUN = "reloading";
const actor = (name: string, n: number) => {
  const signer = sessionKey(new Uint8Array(32).fill(n));
  return { name: loadHotkey(`//${name}`).address, signer, nkey: nkeyOfEd25519(signer.publicKeyHex) };
};
const admin = actor("Alice", 1);
const miner = actor("MinerA", 2);
const members: NatsUser[] = [{ nkey: admin.nkey, role: "admin" }, { nkey: miner.nkey, role: "miner", actor: miner.name, run: RUN }];
const login = (a: ReturnType<typeof actor>) => ({ authenticator: sessionAuthenticator(a.signer), inboxPrefix: inboxPrefix(a.name) });

let nats: EmbeddedNats;
let root: NatsConnection;
let nc: NatsConnection;
beforeAll(async () => {
  // Every core, as a server of its own runs (an embedded one gets half, here 1): on one, a reload
  // and the member's calls seldom overlap (0-2 API-down retries in 300 reloads), so the window this
  // test is about would not be met.
  nats = await startEmbeddedNats({ authorization: authorizationConf(members), maxProcs: availableParallelism() });
  root = await connectNats(nats.url, "admin", login(admin));
  await ensureRunStreams(await jetstreamManager(root), RUN);
  await natsBlobStore(root, RUN, { writer: "launcher" }); // the launcher creates the run's blob stream
  nc = await connectNats(nats.url, "miner", login(miner));
});
afterAll(async () => {
  await Promise.all([root?.drain(), nc?.drain()].map((p) => p?.catch(() => undefined)));
  await nats?.stop();
});

describe("a member's JetStream calls during authorization reloads", () => {
  it("read and write blobs and ask for stream info while the server reloads, without a single failure", async () => {
    const blobs: BlobStore = await natsBlobStore(nc, RUN, { writer: miner.name, cacheBytes: 0 }); // no cache: every get goes to the server
    const jsm = await jetstreamManager(nc);
    const stored = await blobs.put(new Uint8Array(4096).fill(7));
    const failures: string[] = [];
    let calls = 0;
    let reloading = true;
    const fail = (what: string) => (e: unknown) => { failures.push(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`); };
    const load = (async () => {
      for (let i = 0; reloading; i++) {
        await Promise.all([
          blobs.get(stored).then((b) => { calls++; if (b?.[0] !== 7) failures.push("get: wrong bytes"); }, fail("get")),
          blobs.put(Uint8Array.of(i & 255, i >> 8, 1, 2, 3)).then(() => calls++, fail("put")),
          jsm.streams.info(streams.facts(RUN)).then(() => calls++, fail("stream info")),
        ]);
      }
    })();
    // Reload (a new member admitted each time) until the member has met the API down at least
    // 5 times, so that the test exercises the window it is about; 300 reloads at most.
    for (let i = 0; i < 300 && jetStreamApiRetries(nc) < 5; i++) {
      const joiner = actor(`Joiner${i}`, 10 + (i % 200));
      nats.setAuthorization(authorizationConf([...members, { nkey: joiner.nkey, role: "miner", actor: joiner.name, run: RUN }]));
      await new Promise((r) => setTimeout(r, 60));
    }
    reloading = false;
    await load;
    expect(jetStreamApiRetries(nc)).toBeGreaterThanOrEqual(5);
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(100);
  }, 120_000);
});

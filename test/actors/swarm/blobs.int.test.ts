// One contract for the content-addressed blob store, run against the in-memory store and the
// NATS Object Store adapter (a real nats-server).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { natsBlobStore } from "../../../src/actors/nats/blobs.js";
import { startEmbeddedNats, type EmbeddedNats } from "../../../src/actors/nats/testing.js";
import { blobRef, type BlobStore, bytesToF32, f32ToBytes, getF32, memoryBlobStore, putF32 } from "../../../src/actors/swarm/blob-store.js";

const contract = (name: string, make: () => Promise<BlobStore>): void => {
  describe(`${name} blob store`, () => {
    it("names a blob by the sha256 of its bytes and returns the same bytes", async () => {
      const s = await make();
      const bytes = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
      const ref = await s.put(bytes);
      expect(ref).toBe(blobRef(bytes));
      expect(await s.has(ref)).toBe(true);
      expect(await s.get(ref)).toEqual(bytes);
    });

    it("stores identical content once and answers absent refs with undefined", async () => {
      const s = await make();
      const a = await s.put(Uint8Array.of(1, 2, 3));
      const b = await s.put(Uint8Array.of(1, 2, 3));
      expect(a).toBe(b);
      expect(await s.get("0".repeat(64))).toBeUndefined();
      expect(await s.has("f".repeat(64))).toBe(false);
    });

    it("round-trips float32 vectors bit for bit", async () => {
      const s = await make();
      const x = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e-7 + i);
      expect(await getF32(s, await putF32(s, x))).toEqual(x);
      expect(bytesToF32(f32ToBytes(x))).toEqual(x);
    });
  });
};

contract("memory", async () => memoryBlobStore());

let nats: EmbeddedNats;
let nc: NatsConnection;
let runs = 0;
beforeAll(async () => {
  nats = await startEmbeddedNats();
  nc = await connectNats(nats.url);
});
afterAll(async () => {
  await nc.drain();
  await nats.stop();
});
contract("NATS Object Store", () => natsBlobStore(nc, `blobs-${runs++}`));

describe("NATS Object Store blob store", () => {
  it("is shared by every client of the run: a blob put by one is read by another", async () => {
    const a = await natsBlobStore(nc, "shared");
    const b = await natsBlobStore(nc, "shared", { cacheBytes: 0 });
    const ref = await a.put(Uint8Array.of(9, 8, 7));
    expect(await b.get(ref)).toEqual(Uint8Array.of(9, 8, 7));
  });
});

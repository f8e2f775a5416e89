// One contract for the content-addressed blob store, run against the in-memory store and the
// NATS blob stream adapter (a real nats-server).
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams } from "../../../src/events/subjects.js";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { natsBlobStore } from "../../../src/actors/nats/blobs.js";
import { startEmbeddedNats, type EmbeddedNats } from "../../../src/actors/nats/testing.js";
import { blobRef, type BlobStore, bytesToF32, f32ToBytes, getF32, memoryBlobStore, OWNED, putF32 } from "../../../src/actors/swarm/blob-store.js";

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

    it("copies what it is given unless the bytes are handed over, and reads without copying", async () => {
      const s = await make();
      const given = Uint8Array.of(4, 5, 6, 7);
      const ref = await s.put(given);
      given.fill(0); // the caller's array changed after the put: the store kept a copy
      expect(await s.get(ref)).toEqual(Uint8Array.of(4, 5, 6, 7));
      const owned = Uint8Array.of(8, 9, 10);
      const ownedRef = await s.put(owned, OWNED);
      const r1 = await s.read(ownedRef);
      expect(r1).toEqual(owned);
      expect(await s.read(ownedRef)).toBe(r1); // shared: the same bytes each read
      const g = await s.get(ownedRef);
      expect(g).not.toBe(r1); // get: a copy the caller owns
      g?.fill(0);
      expect(await s.read(ownedRef)).toEqual(Uint8Array.of(8, 9, 10));
      expect(await s.read("0".repeat(64))).toBeUndefined();
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
contract("NATS blob stream", () => natsBlobStore(nc, `blobs-${runs++}`, { writer: "w" }));

describe("NATS blob stream", () => {
  it("is shared by every client of the run: a blob put by one writer is read by another", async () => {
    const a = await natsBlobStore(nc, "shared", { writer: "a" });
    const b = await natsBlobStore(nc, "shared", { writer: "b", cacheBytes: 0 });
    const ref = await a.put(Uint8Array.of(9, 8, 7));
    expect(await b.has(ref)).toBe(true);
    expect(await b.get(ref)).toEqual(Uint8Array.of(9, 8, 7));
  });

  it("stores a blob larger than a message in chunks and reads it back bit for bit", async () => {
    const a = await natsBlobStore(nc, "large", { writer: "a" });
    const b = await natsBlobStore(nc, "large", { writer: "b", cacheBytes: 0 });
    const bytes = new Uint8Array(2_500_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256;
    const ref = await a.put(bytes);
    const got = await b.get(ref);
    // Compared as buffers (an element-wise toEqual of 2.5 MB takes seconds).
    expect(got !== undefined && Buffer.from(got).equals(Buffer.from(bytes))).toBe(true);
  });

  const messages = async (run: string): Promise<number> => (await (await jetstreamManager(nc)).streams.info(streams.blobs(run))).state.messages;

  it("stores the concatenation of stored blobs as a list of them, which any reader assembles and checks", async () => {
    const a = await natsBlobStore(nc, "composite", { writer: "a" });
    const one = new Uint8Array(1_500_000).map((_, i) => (i * 31) % 256);
    const two = new Uint8Array(700_000).map((_, i) => (i * 17) % 256);
    const parts = [await a.put(one), await a.put(two)];
    const whole = new Uint8Array(one.byteLength + two.byteLength);
    whole.set(one);
    whole.set(two, one.byteLength);
    const before = await messages("composite");
    const ref = await a.put(whole, { parts });
    expect(ref).toBe(blobRef(whole));
    // One manifest, no chunks: the bytes are not stored a second time.
    expect(await messages("composite")).toBe(before + 1);
    const b = await natsBlobStore(nc, "composite", { writer: "b", cacheBytes: 0 });
    const got = await b.get(ref);
    expect(got !== undefined && Buffer.from(got).equals(Buffer.from(whole))).toBe(true);
  });

  it("stores the bytes themselves when they are not the parts they name", async () => {
    const a = await natsBlobStore(nc, "composite-false", { writer: "a" });
    const parts = [await a.put(Uint8Array.of(1, 2)), await a.put(Uint8Array.of(3, 4))];
    const before = await messages("composite-false");
    const ref = await a.put(Uint8Array.of(1, 2, 3, 5), { parts });
    // A chunk and a manifest.
    expect(await messages("composite-false")).toBe(before + 2);
    expect(await (await natsBlobStore(nc, "composite-false", { writer: "b", cacheBytes: 0 })).get(ref)).toEqual(Uint8Array.of(1, 2, 3, 5));
  });
});

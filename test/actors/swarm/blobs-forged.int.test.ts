// Probe: a hostile client of a run's blob stream. Each writer's copies live under its own
// subjects and the stream takes each subject once and refuses deletes and purges, so nothing
// stored can be replaced or removed, even on a server without auth (the root fix; permissions
// then keep a member off others' subjects). A forged copy under the forger's own name is refused
// by readers, who report its writer and take another copy; the merge and the reduction go on
// without a blob that has no good copy, and say so.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams, subjects } from "../../../src/events/subjects.js";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { natsBlobStore } from "../../../src/actors/nats/blobs.js";
import { startEmbeddedNats, type EmbeddedNats } from "../../../src/actors/nats/testing.js";
import { BlobCorrupt, blobRef, f32ToBytes, getF32, putF32 } from "../../../src/actors/swarm/blob-store.js";
import { fetchResults, reducePartition } from "../../../src/actors/swarm/merge-io.js";
import type { ReduceTask } from "../../../src/machines/worker/index.js";

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

const HONEST = "honest-writer";
const FORGER = "forger";

/** A run with an honest store, and a hostile client that publishes on the blob stream by hand. */
const setup = async () => {
  const run = `forged-${runs++}`;
  const honest = await natsBlobStore(nc, run, { writer: HONEST });
  const forgedBy: string[] = [];
  /** A fresh reader: no cache, so it reads what the stream holds now. */
  const reader = () => natsBlobStore(nc, run, { writer: "reader", cacheBytes: 0, onForged: (_, w) => forgedBy.push(w) });
  const js = jetstream(nc);
  /** Stores `bytes` as `writer`'s copy of `ref` the way a hostile client would: one chunk and a manifest. */
  const forge = async (ref: string, bytes: Uint8Array, writer = FORGER) => {
    await js.publish(subjects.blob(run, writer, ref, "c0"), bytes);
    await js.publish(subjects.blob(run, writer, ref, "m"), JSON.stringify({ bytes: bytes.byteLength, chunks: 1 }));
  };
  return { run, honest, reader, forge, forgedBy, js, jsm: await jetstreamManager(nc) };
};

describe("a run's blob store under a hostile client", () => {
  it("refuses a second message on any part of a stored copy: the server keeps the first", async () => {
    const { run, honest, reader, js } = await setup();
    const ref = await honest.put(Uint8Array.of(1, 2, 3, 4));
    const overwrite = await js.publish(subjects.blob(run, HONEST, ref, "c0"), Uint8Array.of(6, 6, 6, 6)).then(() => "stored", (e: unknown) => String(e));
    expect(overwrite).toMatch(/maximum messages per subject exceeded/);
    expect(await (await reader()).get(ref)).toEqual(Uint8Array.of(1, 2, 3, 4));
  });

  it("refuses deletes and purges of the blob stream: a blob stays readable", async () => {
    const { run, honest, reader, jsm } = await setup();
    const ref = await honest.put(Uint8Array.of(8, 8));
    const stream = streams.blobs(run);
    expect(await jsm.streams.deleteMessage(stream, 1).then(() => "deleted", (e: unknown) => String(e))).toMatch(/message delete not permitted/i);
    expect(await jsm.streams.purge(stream).then(() => "purged", (e: unknown) => String(e))).toMatch(/purge not permitted/i);
    expect(await (await reader()).get(ref)).toEqual(Uint8Array.of(8, 8));
  });

  it("refuses a blob whose only copy is forged, naming the ref and reporting its writer", async () => {
    const { reader, forge, forgedBy } = await setup();
    const ref = blobRef(Uint8Array.of(1, 2, 3, 4));
    await forge(ref, Uint8Array.of(6, 6, 6, 6));
    const err = await (await reader()).get(ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobCorrupt);
    expect(err).toMatchObject({ _tag: "BlobCorrupt", ref });
    expect((err as BlobCorrupt).message).toContain(ref);
    expect(forgedBy).toEqual([FORGER]);
  });

  it("stores an honest copy past a forger who claimed the name first, and readers take it", async () => {
    const { honest, reader, forge, forgedBy } = await setup();
    const bytes = Uint8Array.of(4, 5, 6, 7);
    const ref = blobRef(bytes);
    await forge(ref, Uint8Array.of(0, 0, 0, 0));
    expect(await honest.put(bytes)).toBe(ref);
    expect(await (await reader()).get(ref)).toEqual(bytes);
    expect(forgedBy).toContain(FORGER);
  });

  it("does not store a second copy of a blob another writer holds", async () => {
    const { run, honest, reader, jsm } = await setup();
    const bytes = new Uint8Array(3000).map((_, i) => i % 251);
    const ref = await honest.put(bytes);
    const before = (await jsm.streams.info(streams.blobs(run))).state.messages;
    expect(await (await reader()).put(bytes)).toBe(ref);
    expect((await jsm.streams.info(streams.blobs(run))).state.messages).toBe(before);
  });

  it("with lookIn, looks for a copy to reuse only among those writers ([]: none), and stores once under its own name", async () => {
    const { run, honest, reader, jsm } = await setup();
    const bytes = new Uint8Array(3000).map((_, i) => (i * 7) % 251);
    const ref = await honest.put(bytes);
    const info = async () => (await jsm.streams.info(streams.blobs(run))).state.messages;
    const before = await info();
    // A second writer's fresh put stores its own copy (it did not look), a repeat of it adds nothing.
    const other = await reader();
    expect(await other.put(bytes, { lookIn: [] })).toBe(ref);
    const after = await info();
    expect(after).toBe(before + 2); // its chunk and its manifest
    expect(await (await reader()).put(bytes, { lookIn: [] })).toBe(ref);
    expect(await info()).toBe(after);
    // Naming the honest writer: its copy is reused, nothing is stored.
    const third = await natsBlobStore(nc, run, { writer: "third" });
    expect(await third.put(bytes, { lookIn: [HONEST] })).toBe(ref);
    expect(await info()).toBe(after);
  });

  it("reads the hinted writer's copy first, and past a forged one there takes an honest holder's and reports the forger", async () => {
    const { honest, reader, forge, forgedBy } = await setup();
    const bytes = Uint8Array.of(2, 7, 1, 8, 2, 8);
    const ref = await honest.put(bytes);
    expect(await (await reader()).read(ref, { writers: [HONEST] })).toEqual(bytes);
    expect(forgedBy).toEqual([]);
    await forge(ref, Uint8Array.of(0, 0, 0, 0, 0, 0));
    expect(await (await reader()).read(ref, { writers: [FORGER] })).toEqual(bytes);
    expect(forgedBy).toEqual([FORGER]);
    // A hint naming a writer with no copy falls back to the holders.
    expect(await (await reader()).read(ref, { writers: ["nobody"] })).toEqual(bytes);
  });

  it("fails a put whose own subjects already hold other bytes (someone wrote as this writer: the server needs --secure)", async () => {
    const { honest, forge } = await setup();
    const bytes = Uint8Array.of(3, 1, 4, 1, 5);
    const ref = blobRef(bytes);
    await forge(ref, Uint8Array.of(9, 9, 9, 9, 9), HONEST);
    const err = await honest.put(bytes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobCorrupt);
    expect((err as BlobCorrupt).message).toMatch(/--secure/);
  });

  it("keeps a merge going past a forged result: that partition stays local and the forgery is reported", async () => {
    const { honest, reader, forge } = await setup();
    const good = await putF32(honest, Float32Array.of(1, 2));
    const bad = blobRef(f32ToBytes(Float32Array.of(3, 4)));
    await forge(bad, f32ToBytes(Float32Array.of(9, 9)));
    const reported: string[] = [];
    const got = await fetchResults(await reader(), 4, [good, bad], false, (e) => reported.push(e.ref));
    expect(got.map((x) => (x === undefined ? undefined : [...x]))).toEqual([[1, 2], undefined]);
    expect(reported).toEqual([bad]);
  });

  it("reads each result from the reducers named for it first, and past a forged copy there from an honest holder", async () => {
    const { honest, reader, forge, forgedBy } = await setup();
    const a = await putF32(honest, Float32Array.of(5, 6));
    const b = await putF32(honest, Float32Array.of(7, 8));
    await forge(b, f32ToBytes(Float32Array.of(0, 0)));
    const reported: string[] = [];
    const got = await fetchResults(await reader(), 4, [a, b], false, (e) => reported.push(e.ref), (i) => (i === 0 ? [HONEST] : [FORGER]));
    expect(got.map((x) => (x === undefined ? undefined : [...x]))).toEqual([[5, 6], [7, 8]]);
    expect(forgedBy).toEqual([FORGER]);
    expect(reported).toEqual([]);
  });

  it("keeps a merge going past a missing result: that partition stays local and the loss is reported", async () => {
    const { honest, reader } = await setup();
    const good = await putF32(honest, Float32Array.of(1, 2));
    const gone = blobRef(f32ToBytes(Float32Array.of(3, 4))); // named, never stored
    const reported: unknown[] = [];
    const got = await fetchResults(await reader(), 4, [good, gone], false, (e) => reported.push(e));
    expect(got.map((x) => (x === undefined ? undefined : [...x]))).toEqual([[1, 2], undefined]);
    expect(reported).toMatchObject([{ _tag: "BlobMissing", ref: gone }]);
  });

  it("leaves a forged contribution out of a reduction and reports it", async () => {
    const { honest, reader, forge } = await setup();
    const a = await putF32(honest, Float32Array.of(1, 1));
    const b = blobRef(f32ToBytes(Float32Array.of(3, 3)));
    const task: ReduceTask = { merge: "m", stage: 0, partition: 0, reducers: ["a", "b"], contributors: [{ miner: "a", samples: 1, ref: a }, { miner: "b", samples: 1, ref: b }] };
    const without = await reducePartition(honest, { ...task, contributors: [{ miner: "a", samples: 1, ref: a }] }, () => undefined);
    await forge(b, f32ToBytes(Float32Array.of(100, 100)));
    const reported: string[] = [];
    const store = await reader();
    const hash = await reducePartition(store, task, (e) => reported.push(e.ref));
    expect(reported).toEqual([b]);
    expect(hash).toBe(without);
    expect([...(await getF32(store, hash))]).toEqual([1, 1]);
  });

  it("does not allocate what a forged manifest claims: more bytes than its chunks or parts can hold reads as no copy", async () => {
    const { run, honest, reader, js } = await setup();
    const huge = blobRef(Uint8Array.of(4, 4));
    await js.publish(subjects.blob(run, FORGER, huge, "c0"), Uint8Array.of(4, 4));
    await js.publish(subjects.blob(run, FORGER, huge, "m"), JSON.stringify({ bytes: 2 ** 40, chunks: 1 }));
    expect(await (await reader()).get(huge)).toBeUndefined();
    const one = await honest.put(Uint8Array.of(5));
    const claimed = blobRef(Uint8Array.of(5, 5));
    await js.publish(subjects.blob(run, FORGER, claimed, "m"), JSON.stringify({ bytes: 2 ** 40, chunks: 0, parts: [one] }));
    expect(await (await reader()).get(claimed)).toBeUndefined();
  });

  it("refuses a forged list of parts: parts that are not the blob's bytes, or a list naming the blob itself", async () => {
    const { run, honest, reader, js, forgedBy } = await setup();
    const one = await honest.put(Uint8Array.of(1, 2));
    const two = await honest.put(Uint8Array.of(3, 4));
    const wanted = blobRef(Uint8Array.of(1, 2, 3, 5));
    await js.publish(subjects.blob(run, FORGER, wanted, "m"), JSON.stringify({ bytes: 4, chunks: 0, parts: [one, two] }));
    const err = await (await reader()).get(wanted).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobCorrupt);
    expect(forgedBy).toEqual([FORGER]);
    // A list that names the blob itself reads as an incomplete copy (never a loop): the blob is absent.
    const self = blobRef(Uint8Array.of(7, 7));
    await js.publish(subjects.blob(run, FORGER, self, "m"), JSON.stringify({ bytes: 2, chunks: 0, parts: [self] }));
    expect(await (await reader()).get(self)).toBeUndefined();
    // The honest writer then stores the bytes past both, and readers take its copy.
    expect(await honest.put(Uint8Array.of(1, 2, 3, 5), { parts: [one, two] })).toBe(wanted);
    expect(await (await reader()).get(wanted)).toEqual(Uint8Array.of(1, 2, 3, 5));
  });
});

// readRange against a real nats-server: many pull requests in flight one after another (small
// batches), sub-ranges, deleted messages and chunk sizes, with every sequence exactly once in order.
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, type NatsConnection } from "../../../src/actors/nats/connection.js";
import { readRange } from "../../../src/actors/nats/range-reader.js";
import { type EmbeddedNats, startEmbeddedNats } from "../../../src/actors/nats/testing.js";

let nats: EmbeddedNats;
let nc: NatsConnection;
let jsm: JetStreamManager;
const N = 2_500;
beforeAll(async () => {
  nats = await startEmbeddedNats();
  nc = await connectNats(nats.url);
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "RR", subjects: ["rr.>"] });
  const js = jetstream(nc);
  for (let i = 0; i < N; i += 250) await Promise.all(Array.from({ length: 250 }, (_, k) => js.publish(`rr.${(i + k) % 3}`, `m${i + k + 1}`)));
});
afterAll(async () => {
  await nc?.drain();
  await nats?.stop();
});

const read = async (from: number, end: number, batch?: number, slow = false) => {
  const seqs: number[] = [];
  const chunks: number[] = [];
  for await (const chunk of readRange(nc, jsm, { stream: "RR", filter: "rr.>", from, end, ...(batch === undefined ? {} : { batch }) })) {
    chunks.push(chunk.length);
    // A slow consumer: the reader runs ahead, stops asking at its bound, and resumes when drained.
    for (let k = 0; slow && k < 50; k++) await new Promise<void>((resolve) => setImmediate(resolve));
    for (const m of chunk) {
      expect(new TextDecoder().decode(m.data)).toBe(`m${m.seq}`);
      seqs.push(m.seq);
    }
  }
  return { seqs, chunks };
};
const range = (from: number, end: number) => Array.from({ length: end - from + 1 }, (_, i) => from + i);

describe("readRange", () => {
  it("reads the whole stream in order through many small pull requests", async () => {
    for (const batch of [7, 100, 4096]) expect((await read(1, N, batch)).seqs).toEqual(range(1, N));
  });

  it("keeps up with a slow consumer without losing or repeating anything", async () => {
    const { seqs, chunks } = await read(1, 2_000, 13, true);
    expect(seqs).toEqual(range(1, 2_000));
    expect(chunks.length).toBeGreaterThan(16);
  });

  it("reads a sub-range exactly, in chunks of at most 1,024", async () => {
    const { seqs, chunks } = await read(777, 1_901, 64);
    expect(seqs).toEqual(range(777, 1_901));
    expect(Math.max(...chunks)).toBeLessThanOrEqual(1_024);
    expect((await read(N, N)).seqs).toEqual([N]);
  });

  it("skips deleted messages without stalling and ends at the range's end", async () => {
    for (const seq of [10, 11, 500, N]) await jsm.streams.deleteMessage("RR", seq, false);
    const { seqs } = await read(1, N, 50);
    expect(seqs).toEqual(range(1, N).filter((s) => ![10, 11, 500, N].includes(s)));
  });
});

// `npm run bench -- blobs [--reps N]`: what a blob lookup costs as a run's blob stream grows, in
// one run against an embedded nats-server. At S stored blob subjects: a read of a blob by a reader
// without a cache, listing the blob's holders first (what every read and put did before) against
// reading the writer the caller names (ReadHint: one direct get of its manifest); and a put of new
// bytes that first looks for another writer's copy against one that does not (lookIn: []). The
// listing asks the server for the subjects matching `swl.<run>.b.*.<ref>.m`, a scan of every blob
// subject of the run; a long run stores ~50 subjects per miner per merge and never deletes them.
// Writes bench/results/blobs.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { natsBlobStore } from "../src/actors/nats/blobs.js";
import { connectNats } from "../src/actors/nats/connection.js";
import { startEmbeddedNats } from "../src/actors/nats/embedded.js";
import { streams, subjects } from "../src/events/subjects.js";
import { arg } from "./events.js";

const SIZES = [1_000, 10_000, 50_000] as const;
/** A merge partition of the default model as bfloat16: 1.7 MB / 8 partitions / 2. */
const PARTITION_BYTES = 110_000;

export const run = async (args: string[]): Promise<void> => {
  const reps = arg(args, "reps", 30);
  const nats = await startEmbeddedNats();
  const nc = await connectNats(nats.url, "bench-blobs");
  try {
    const runId = "bench-blobs";
    const writer = "writer-1";
    const store = await natsBlobStore(nc, runId, { writer });
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    let seed = 1;
    const fresh = (): Uint8Array => {
      const b = new Uint8Array(PARTITION_BYTES);
      new DataView(b.buffer).setUint32(0, seed++);
      return b;
    };
    const rows: { subjects: number; readListedMs: number; readHintedMs: number; putLookedMs: number; putFreshMs: number }[] = [];
    for (const size of SIZES) {
      // Grow the stream to `size` subjects with other writers' manifests (as many merges would leave).
      const have = (await jsm.streams.info(streams.blobs(runId))).state.num_subjects ?? 0;
      for (let i = have; i < size; i += 500) {
        await Promise.all(Array.from({ length: Math.min(500, size - i) }, (_, j) =>
          js.publish(subjects.blob(runId, `filler-${(i + j) % 16}`, (i + j).toString(16).padStart(64, "0"), "m"), "{}")));
      }
      const refs = await Promise.all(Array.from({ length: reps }, () => store.put(fresh(), { lookIn: [] })));
      const time = async (f: (i: number) => Promise<unknown>): Promise<number> => {
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) await f(i);
        return (performance.now() - t0) / reps;
      };
      const listed = await natsBlobStore(nc, runId, { writer: "reader-a", cacheBytes: 0 });
      const hinted = await natsBlobStore(nc, runId, { writer: "reader-b", cacheBytes: 0 });
      const readListedMs = await time((i) => listed.read(refs[i] as string));
      const readHintedMs = await time((i) => hinted.read(refs[i] as string, { writers: [writer] }));
      const putLookedMs = await time(() => store.put(fresh()));
      const putFreshMs = await time(() => store.put(fresh(), { lookIn: [] }));
      rows.push({ subjects: size, readListedMs, readHintedMs, putLookedMs, putFreshMs });
      process.stdout.write(`${size} blob subjects: read listing holders ${readListedMs.toFixed(2)} ms, naming the writer ${readHintedMs.toFixed(2)} ms; put looking for copies ${putLookedMs.toFixed(2)} ms, not looking ${putFreshMs.toFixed(2)} ms\n`);
    }
    const last = rows[rows.length - 1] as (typeof rows)[number];
    const result = {
      bench: "blobs",
      ratios: {
        read_hinted_vs_listed_at_50k: +(last.readHintedMs / last.readListedMs).toFixed(3),
        put_fresh_vs_looked_at_50k: +(last.putFreshMs / last.putLookedMs).toFixed(3),
      },
      figures: { partitionBytes: PARTITION_BYTES, reps, rows },
    };
    process.stdout.write(`${JSON.stringify(result.ratios)}\n`);
    const out = new URL("./results/", import.meta.url);
    mkdirSync(out, { recursive: true });
    writeFileSync(new URL("blobs.json", out), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write("wrote bench/results/blobs.json\n");
  } finally {
    await nc.drain().catch(() => undefined);
    await nats.stop();
  }
};

// The merge's blob I/O: a miner's snapshot stored as partitions, a reducer's sample-weighted mean
// (or outer step) of one partition, and a participant fetching the accepted results; each one
// verifying what it reads and going on without a forged or missing blob.
import { bf16Bytes, bf16Codes, type OuterBasis, partitionBounds, partitionBytesSent, reduceResult, resultParams, roundToBf16, type SnapshotCodec, snapshotBytesPerValue, unpackOuter } from "../../machines/protocol/index.js";
import type { ReduceTask } from "../../machines/worker/index.js";
import { type BlobCorrupt, type BlobMissing, type BlobStore, f32View, findF32, getF32, OWNED, readF32, unlessForged } from "./blob-store.js";
import type { MinerCompute } from "./compute.js";

/** Put options for bytes only this writer makes (its own snapshot's partitions): no other copy is looked for. */
const FRESH = { lookIn: [] } as const;

/**
 * Stores a weight snapshot cut into `count` partitions; their refs in order. `snap` must not change
 * meanwhile. As "bf16" (run config v6) the snapshot is first rounded to bfloat16 in place, so the
 * caller's copy (its overlap base) holds exactly the values its reducers read, and each partition
 * is stored as 2 bytes a value.
 */
export const putPartitions = (blobs: BlobStore, snap: Float32Array, count: number, codec: SnapshotCodec = "f32"): Promise<string[]> => {
  const parts = partitionBounds(snap.length, count);
  // A snapshot is this miner's own: no other writer holds its partitions.
  if (codec === "f32") return Promise.all(parts.map((q) => blobs.put(f32View(snap.subarray(q.start, q.end)), FRESH)));
  const codes = roundToBf16(snap);
  return Promise.all(parts.map((q) => blobs.put(bf16Bytes(codes, q), { ...OWNED, ...FRESH })));
};

/**
 * A participant's sendPartitions (miner host and deterministic sim alike): its snapshot of merge
 * `p.merge`, read in its worker's order, stored as partitions in the run's codec; their refs, and
 * the bytes `me` sends (each partition to each of its reducers other than `me`: PartitionsSent).
 */
export const storeSnapshot = async (
  blobs: BlobStore, c: MinerCompute, me: string,
  p: { readonly merge: string; readonly partitions: number; readonly reducers: readonly (readonly string[])[]; readonly codec?: SnapshotCodec },
): Promise<{ refs: string[]; bytes: number }> => {
  const codec = p.codec ?? "f32";
  const { refs, size } = await c.readSnapshot(p.merge, async (snap) => ({ refs: await putPartitions(blobs, snap, p.partitions, codec), size: snap.length }));
  return { refs, bytes: partitionBytesSent(me, partitionBounds(size, p.partitions), p.reducers, snapshotBytesPerValue(codec)) };
};

/**
 * A contributor's partition as the store holds it (no copy; the contributor's own copy is looked up
 * first): float32 values, or bfloat16 codes that weightedAverage widens a block at a time.
 */
const contribution = async (blobs: BlobStore, ref: string, codec: SnapshotCodec, writer: string): Promise<Float32Array | Uint16Array> => {
  if (codec === "f32") return (await findF32(blobs, ref, { writers: [writer] })) ?? new Float32Array(0);
  const b = await blobs.read(ref, { writers: [writer] });
  return b === undefined ? new Float32Array(0) : bf16Codes(b);
};

/**
 * The parameters of each accepted partition of a merge of a `size`-value stage (by content hash;
 * under an outer rule the parameter half of the result); undefined for skipped partitions and
 * results of the wrong size, and for a result whose stored bytes are not its hash or that is not in
 * the store (given to `report`): the miner keeps that partition's own values rather than stop.
 * `writersOf(i)`: who is expected to hold result i (the reducers that agreed on it), read first.
 */
type Report = (e: BlobCorrupt | BlobMissing) => void;
export const fetchResults = async (
  blobs: BlobStore, size: number, results: readonly (string | null)[], outer: boolean, report: Report,
  writersOf: (partition: number) => readonly string[] = () => [],
): Promise<(Float32Array | undefined)[]> => {
  const parts = partitionBounds(size, results.length);
  return Promise.all(results.map(async (h, i) => {
    const q = parts[i];
    if (h === null || q === undefined) return undefined;
    // Read-only from here on (the adopting miner copies what it keeps), so no copy of the store's.
    const x = await unlessForged(readF32(blobs, h, { writers: writersOf(i) }), report, true);
    return x === undefined ? undefined : resultParams(x, q.end - q.start, outer);
  }));
};

/**
 * A reducer's work: the sample-weighted mean of one partition over the sealed contributors (their
 * snapshots widened to float32 when the run sends bfloat16), in
 * miner-id order (weightedAverage), or under an outer rule (DiLoCo) the outer Nesterov step from
 * the partition's previous merge result (reduceResult); stored, its ref is the result hash both
 * reducers publish. A contributor whose stored bytes are not its ref (given to `report`) is left
 * out of the mean: every honest reducer reads the same store, so they still agree.
 */
export const reducePartition = async (blobs: BlobStore, task: ReduceTask, report: Report, tamper?: (x: Float32Array) => Float32Array): Promise<string> => {
  const all = await Promise.all(task.contributors.map(async (c) => {
    const data = await unlessForged(contribution(blobs, c.ref, task.codec ?? "f32", c.miner), report);
    return data === undefined ? undefined : { miner: c.miner, samples: Math.max(1, c.samples), data };
  }));
  const data = all.filter((c) => c !== undefined);
  const result = reduceResult(data, await outerBasis(blobs, task));
  // An honest peer reducer's copy of the same result will do (the cross-check compares hashes).
  return blobs.put(f32View(tamper === undefined ? result : tamper(result)), { ...OWNED, lookIn: task.reducers });
};

/** What an outer step starts from: the previous result's parameters and momentum, or the initial weights' slice. */
const outerBasis = async (blobs: BlobStore, task: ReduceTask): Promise<OuterBasis | undefined> => {
  const t = task.outer;
  if (t === undefined) return undefined;
  const rule = { lr: t.lr, momentum: t.momentum };
  if (t.previous !== null) {
    const prev = unpackOuter(await getF32(blobs, t.previous), t.end - t.start);
    return { rule, anchor: prev.params, momentum: prev.momentum };
  }
  return { rule, anchor: (await readF32(blobs, t.initial)).slice(t.start, t.end), momentum: null };
};

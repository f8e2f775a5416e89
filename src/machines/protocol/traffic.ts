// Per-miner merge traffic of a Butterfly All-Reduce with r reducers per partition: what one miner
// sends and receives, in bytes. With balanced reducer loads it is ~2x the stage size sent and
// < 3x received, whatever the number of miners (hivemind's butterfly is 1x each way with r = 1).
import type { Partition } from "./partitions.js";

export interface MergeTraffic {
  /** Own partitions to each of their reducers (except itself), plus the reduced results it publishes. */
  readonly sent: number;
  /** Other participants' copies of the partitions it reduces, plus accepted results it did not reduce. */
  readonly received: number;
}

/** Bytes `miner` sends of its own copy: each partition to each of its reducers other than itself (what PartitionsSent records). */
export const partitionBytesSent = (miner: string, partitions: readonly Partition[], reducers: readonly (readonly string[])[], bytesPerElement = 4): number =>
  partitions.reduce((s, p, i) => s + (p.end - p.start) * bytesPerElement * (reducers[i] ?? []).filter((r) => r !== miner).length, 0);

/**
 * Byte accounting for `miner` given the plan (`reducers[i]` reduces partition i). Contributions are
 * point to point; each reducer publishes its result once; every participant fetches each accepted
 * partition it did not reduce once. Sent = sum over partitions of (reducers other than me) x size,
 * plus my results: exactly 2N when r = 2, since N(2 - 2/M) + N(2/M) = 2N for balanced loads.
 */
export const mergeTraffic = (
  miner: string,
  participants: readonly string[],
  partitions: readonly Partition[],
  reducers: readonly (readonly string[])[],
  bytesPerElement = 4,
  /** Bytes per value of the participants' snapshots (2 when a run sends bfloat16); results take `bytesPerElement`. */
  snapshotBytesPerElement = bytesPerElement,
): MergeTraffic => {
  let sent = partitionBytesSent(miner, partitions, reducers, snapshotBytesPerElement);
  let received = 0;
  partitions.forEach((p, i) => {
    const size = (p.end - p.start) * bytesPerElement;
    if ((reducers[i] ?? []).includes(miner)) {
      sent += size; // publish the reduced partition once
      received += (participants.length - 1) * (p.end - p.start) * snapshotBytesPerElement;
    } else {
      received += size; // fetch the accepted result
    }
  });
  return { sent, received };
};

// `swarmline nats --cluster N`: N local nats-server nodes clustered on loopback (JetStream on each;
// a run's streams on it get 3 replicas), in the foreground until Ctrl-C. Prints the comma-separated
// client URLs that `--nats` takes, then stops every node cleanly and removes their directories.
import { startEmbeddedCluster, type EmbeddedCluster } from "../actors/nats/cluster.js";
import { UsageError } from "./run-settings.js";

/** The --cluster flag: at least 3 nodes (R3 streams need 3), at most 7. */
export const parseClusterSize = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 3 || n > 7) throw new UsageError({ message: `--cluster must be a number of nodes from 3 to 7 (R3 streams need 3), got "${v}"` });
  return n;
};

/** Starts the cluster, prints where it is, waits for `until`, stops it. Returns the exit code. */
export const serveCluster = async (size: number, json: boolean, until: (c: EmbeddedCluster) => Promise<void>): Promise<number> => {
  let cluster: EmbeddedCluster;
  try {
    cluster = await startEmbeddedCluster(size);
  } catch (e) {
    process.stderr.write(`swarmline nats: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const nodes = cluster.nodes.map((n, i) => ({ name: cluster.names[i], url: n.url, monitorPort: n.monitorPort, storeDir: n.storeDir, pid: n.pid }));
  if (json) process.stdout.write(`${JSON.stringify({ url: cluster.url, nodes })}\n`);
  else {
    process.stdout.write(`${cluster.url}\n`);
    for (const n of nodes) process.stderr.write(`${n.name}: nats-server ${n.pid} at ${n.url}, JetStream in ${n.storeDir}; monitor http://127.0.0.1:${n.monitorPort}\n`);
    process.stderr.write(`a ${size}-node cluster on loopback; run streams get 3 replicas; pass the first line as --nats; Ctrl-C stops it\n`);
  }
  try {
    await until(cluster);
  } finally {
    await cluster.stop();
  }
  if (!json) process.stderr.write("cluster stopped\n");
  return 0;
};

// A local nats-server cluster: N embedded nodes (infra/nats/cluster's layout: routes on loopback,
// JetStream on each) on free ports, each with its own temporary store. What `swarmline nats
// --cluster 3` runs, and what tests kill a stream's leader in.
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "./connection.js";
import { NatsServerFailed, type EmbeddedNats, type EmbeddedNatsOptions, freePort, onFreshPorts, startEmbeddedNats } from "./embedded.js";

export interface EmbeddedCluster {
  /** The nodes' client URLs, comma-separated: what `--nats` takes. */
  readonly url: string;
  readonly nodes: readonly EmbeddedNats[];
  /** The node named `name` (a stream info's `cluster.leader`), if it is one of these. */
  node(name: string): EmbeddedNats | undefined;
  /** The nodes' server names, in order. */
  readonly names: readonly string[];
  stop(): Promise<void>;
}

interface Jsz { readonly meta_cluster?: { readonly leader?: string; readonly cluster_size?: number } }

/** Resolves once the node knows the JetStream meta leader (before that, no stream can be created). */
const metaLeader = async (monitorPort: number, deadline: number): Promise<void> => {
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${monitorPort}/jsz`);
      const j = (await r.json()) as Jsz;
      if ((j.meta_cluster?.leader ?? "") !== "") return;
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) throw new NatsServerFailed({ message: `the cluster elected no JetStream meta leader (node monitor ${monitorPort})` });
    await new Promise((r) => setTimeout(r, 50));
  }
};

/**
 * Starts `size` nodes named `swarmline-n1`.. clustered on loopback, and resolves once every node
 * knows the JetStream meta leader. A run's streams on it are created with 3 replicas
 * (connection.ts streamReplicas), so they survive the loss of any one node.
 */
export const startEmbeddedCluster = (size = 3, options: ClusterOptions = {}): Promise<EmbeddedCluster> =>
  // A port taken between its choice and the bind: every node again, on fresh ports.
  onFreshPorts(() => startClusterOnce(size, options));

type ClusterOptions = Pick<EmbeddedNatsOptions, "readyTimeoutMs" | "inheritOutput" | "args">;

const startClusterOnce = async (size: number, options: ClusterOptions): Promise<EmbeddedCluster> => {
  const routes: number[] = [];
  for (let i = 0; i < size; i++) routes.push(await freePort());
  const names = routes.map((_, i) => `swarmline-n${i + 1}`);
  // Every node at once: a node's JetStream becomes healthy only with a quorum of its peers.
  const started = await Promise.allSettled(routes.map((port, i) => startEmbeddedNats({ ...options, serverName: names[i] as string, cluster: { name: "swarmline", port, routes } })));
  const nodes = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed !== undefined) {
    await stop();
    throw failed.reason;
  }
  try {
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    await Promise.all(nodes.map((n) => metaLeader(n.monitorPort, deadline)));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url: nodes.map((n) => n.url).join(","),
    nodes, names,
    node: (name) => nodes[names.indexOf(name)],
    stop,
  };
};

/** The server name of a stream's leader (undefined on a single server, or while it has none). */
export const streamLeader = async (nc: NatsConnection, stream: string): Promise<string | undefined> =>
  (await (await jetstreamManager(nc, { checkAPI: false })).streams.info(stream)).cluster?.leader;

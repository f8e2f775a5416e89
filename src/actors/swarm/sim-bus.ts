// The bus a sim's actors talk through: an embedded (or given) nats-server and one root connection
// for the run's infrastructure (orchestrator, feed, gatekeeper). Open, every member shares the root
// connection; secured (`--secure`), the server runs with per-actor permissions and each miner and
// validator joins through the gatekeeper and writes over its own nkey connection, as it would on
// a deployment.
import { randomBytes } from "node:crypto";
import type { EventLogShape } from "../eventlog/service.js";
import { type Gatekeeper, startGatekeeper } from "../gatekeeper/host.js";
import { connectAsMember, joinSecuredRun } from "../gatekeeper/join.js";
import type { Hotkey } from "../identity/index.js";
import { sessionKey } from "../identity/session.js";
import { type BlobStore } from "./blob-store.js";
import { natsBlobStore } from "../nats/blobs.js";
import { connectNats, type NatsConnection } from "../nats/connection.js";
import { type DataChannel, natsDataChannel } from "../nats/data-channel.js";
import { startEmbeddedCluster } from "../nats/cluster.js";
import { type EmbeddedNats, startEmbeddedNats } from "../nats/embedded.js";
import { makeNatsEventLog } from "../nats/eventlog.js";
import { nkeyOfEd25519, sessionAuthenticator } from "../nats/nkey.js";
import { authorizationConf, inboxPrefix, type NatsUser } from "../nats/permissions.js";
import type { JoinRole } from "../../machines/gatekeeper/index.js";

/** What one actor writes and reads through. */
export interface MemberBus {
  readonly nc: NatsConnection;
  readonly log: EventLogShape;
  readonly data: DataChannel;
  readonly blobs: BlobStore;
  /** The session seed its writer must sign with (secured: its NATS identity). */
  readonly sessionSeed?: Uint8Array;
  close(): Promise<void>;
}

export interface SimBus {
  readonly url: string;
  /** The infrastructure's connection (orchestrator, feed, gatekeeper). */
  readonly root: MemberBus;
  readonly secure: boolean;
  /** The sim's own server nodes (one, or a cluster's), which faults may kill and restart; none with a given URL. */
  readonly nodes: readonly EmbeddedNats[];
  /** The nodes' server names, in the same order. */
  readonly names: readonly string[];
  /** A member's bus: the root one when open, its own admitted connection when secured. */
  member(hotkey: Hotkey, role: JoinRole): Promise<MemberBus>;
  /** Removes a kicked miner from the server's authorization (secured only). */
  remove(hotkey: string): Promise<void>;
  close(): Promise<void>;
}

const memberOf = async (nc: NatsConnection, run: string, writer: string, sessionSeed?: Uint8Array, owns = true): Promise<MemberBus> => ({
  nc, log: makeNatsEventLog(nc), data: await natsDataChannel(nc, run), blobs: await natsBlobStore(nc, run, { writer }),
  ...(sessionSeed === undefined ? {} : { sessionSeed }),
  close: async () => { if (owns) await nc.drain().catch(() => nc.close()); },
});

/**
 * Opens a sim's bus. `members` are the hotkeys the gatekeeper admits (secured), with their roles.
 * Secured runs need the embedded server (its authorization file is the sim's to rewrite).
 */
export const openSimBus = async (o: {
  readonly run: string;
  readonly nats?: string;
  readonly secure?: boolean;
  readonly members: ReadonlyMap<string, ReadonlySet<JoinRole>>;
  /** The infrastructure's actor (the orchestrator): the writer of the root bus's blobs. */
  readonly root: string;
  /** Run an embedded cluster of this many nodes instead of one server. */
  readonly cluster?: number;
}): Promise<SimBus> => {
  if (o.secure === true && o.nats !== undefined) throw new RangeError("--secure runs on the sim's own embedded server: drop --nats");
  if (o.cluster !== undefined && (o.nats !== undefined || o.secure === true)) throw new RangeError("--cluster runs the sim's own open cluster: drop --nats and --secure");
  if (o.cluster !== undefined) {
    const cluster = await startEmbeddedCluster(o.cluster);
    try {
      const nc = await connectNats(cluster.url, "swarmline-sim");
      const root = await memberOf(nc, o.run, o.root, undefined, false);
      return {
        url: cluster.url, root, secure: false, nodes: cluster.nodes, names: cluster.names,
        member: async () => root,
        remove: async () => undefined,
        close: async () => {
          await nc.drain().catch(() => nc.close());
          await cluster.stop();
        },
      };
    } catch (e) {
      await cluster.stop();
      throw e;
    }
  }
  const adminSigner = sessionKey(new Uint8Array(randomBytes(32)));
  const admin: NatsUser = { nkey: nkeyOfEd25519(adminSigner.publicKeyHex), role: "admin" };
  const server: EmbeddedNats | undefined = o.nats === undefined
    ? await startEmbeddedNats(o.secure === true ? { authorization: authorizationConf([admin], { joiner: true }), inheritOutput: process.env.SWARMLINE_NATS_LOG !== undefined /* the server log shows every refusal */ } : {})
    : undefined;
  const url = o.nats ?? (server as EmbeddedNats).url;
  try {
    const nc = await connectNats(url, "swarmline-sim", o.secure === true ? { authenticator: sessionAuthenticator(adminSigner), inboxPrefix: inboxPrefix("sim") } : undefined);
    const root = await memberOf(nc, o.run, o.root, undefined, false);
    let gate: Gatekeeper | undefined;
    if (o.secure === true && server !== undefined)
      gate = await startGatekeeper({ nc, registry: () => o.members, fixed: [admin], install: (conf) => server.setAuthorization(conf) });
    return {
      url, root, secure: gate !== undefined, nodes: server === undefined ? [] : [server], names: server === undefined ? [] : [`swarmline-embedded-${server.port}`],
      member: async (hotkey, role) => {
        if (gate === undefined) return root;
        const m = await joinSecuredRun(url, o.run, hotkey, role);
        const own = await connectAsMember(url, `swarmline-${role}-${hotkey.address.slice(0, 12)}`, m);
        return memberOf(own, o.run, hotkey.address, m.sessionSeed);
      },
      remove: async (hotkey) => { await gate?.remove(o.run, hotkey); },
      close: async () => {
        await gate?.stop();
        await nc.drain().catch(() => nc.close());
        await server?.stop();
      },
    };
  } catch (e) {
    await server?.stop();
    throw e;
  }
};

// Connecting to NATS as a scoped Effect resource, with connection failures as NatsUnavailable.
import { type Authenticator, connect, createInbox, type Msg, type NatsConnection, RequestError, type Status, TimeoutError } from "@nats-io/transport-node";
import { Effect } from "effect";
import { NatsUnavailable } from "../eventlog/errors.js";
import { JOINER_INBOX } from "./permissions.js";

export type { NatsConnection };

/** How an actor logs in to a secured server: its nkey authenticator and the only inbox prefix it may read. */
export interface NatsLogin {
  readonly authenticator: Authenticator;
  readonly inboxPrefix: string;
}

/** The inbox prefix each connection logged in with (a secured user may read only its own). */
const prefixes = new WeakMap<NatsConnection, string>();

/** A fresh inbox subject under the connection's own prefix (`_INBOX.` unless it logged in with another). */
export const inboxOf = (nc: NatsConnection): string => createInbox(prefixes.get(nc));

/** How long a JetStream API request keeps being re-sent while the API has no responders. */
const API_RETRY_MS = [25, 50, 100, 200, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400];
const apiRetries = new WeakMap<NatsConnection, number>();

/** JetStream API requests this connection re-sent because the API had no responders for a moment. */
export const jetStreamApiRetries = (nc: NatsConnection): number => apiRetries.get(nc) ?? 0;

/** A JetStream API error reply "JetStream not enabled for account" (small; data replies are not parsed). */
const jetStreamOff = (m: Msg): boolean => m.data.length < 512 && m.data.length > 0 && new TextDecoder().decode(m.data).includes(`"err_code":${JS_NOT_ENABLED_FOR_ACCOUNT}`);
const JS_NOT_ENABLED_FOR_ACCOUNT = 10039;

/**
 * JetStream API requests that read, or create what is created again harmlessly (an ephemeral or
 * an identically configured consumer): sending one again after a timeout is safe.
 */
const IDEMPOTENT = /^\$JS\.API\.(INFO|STREAM\.(INFO|NAMES|LIST|MSG\.GET)|DIRECT\.GET|CONSUMER\.(INFO|NAMES|LIST|CREATE|DURABLE\.CREATE))(\.|$)/;
/** Timed-out tries of an idempotent request before the timeout is the caller's (a stream electing a leader takes seconds). */
const TIMEOUT_TRIES = 4;

/**
 * nats-server 2.9 re-registers the JetStream API's subscriptions on every config reload (each time a
 * gatekeeper admits or removes a member of a secured run), so for a moment a `$JS.API.` request has
 * no responders, or is answered "JetStream not enabled for account" (err_code 10039); the client
 * reports both as JetStreamNotEnabled (measured: about 4% of blob reads failed while the
 * authorization was reloaded every 100 ms). Neither request was acted on, so sending it again is
 * safe: the connection re-sends those for up to ~5 s. Publishes to streams and running consumers
 * ride through a reload untouched (measured the same way). On a cluster whose stream leader was just
 * killed, an API request can time out while the stream elects a new one: an idempotent request is
 * then sent again, TIMEOUT_TRIES times in all (a `swarmline: timeout` ended a sim in CI there).
 */
const rideThroughReloads = (nc: NatsConnection): void => {
  const send = nc.request.bind(nc);
  nc.request = async (subject, payload, opts) => {
    const api = subject.startsWith("$JS.API.");
    let timeouts = 0;
    for (let attempt = 0; ; attempt++) {
      const wait = api ? API_RETRY_MS[attempt] : undefined;
      let reply: Msg;
      try {
        reply = await send(subject, payload, opts);
      } catch (e) {
        if (api && e instanceof TimeoutError && IDEMPOTENT.test(subject) && ++timeouts < TIMEOUT_TRIES) {
          apiRetries.set(nc, jetStreamApiRetries(nc) + 1);
          continue;
        }
        if (wait === undefined || !(e instanceof RequestError && e.isNoResponders())) throw e;
        apiRetries.set(nc, jetStreamApiRetries(nc) + 1);
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      if (wait === undefined || !jetStreamOff(reply)) return reply;
      apiRetries.set(nc, jetStreamApiRetries(nc) + 1);
      await new Promise((r) => setTimeout(r, wait));
    }
  };
};

/**
 * Reconnect pacing. The client's default waits 2 s between tries of a server it already tried, so
 * after a restart the processes of a run came back up to 2 s apart, and an orchestrator back first
 * could time out a miner still waiting (its ticks run on; liveness is counted in them). A quarter
 * second, with jitter so a run's processes do not knock in step, brings them back together.
 */
const RECONNECT = { maxReconnectAttempts: -1, reconnectTimeWait: 250, reconnectJitter: 100 } as const;

/** Connection status listeners: one status reader per connection, many listeners. */
const statusListeners = new WeakMap<NatsConnection, Set<(s: Status) => void>>();

const readStatus = (nc: NatsConnection): void => {
  const ls = new Set<(s: Status) => void>();
  statusListeners.set(nc, ls);
  void (async () => {
    for await (const s of nc.status()) for (const l of ls) l(s);
  })().catch(() => undefined);
};

/** Calls `f` on each status change of the connection (disconnect, reconnect, ...); returns its removal. */
export const onStatus = (nc: NatsConnection, f: (s: Status) => void): (() => void) => {
  const ls = statusListeners.get(nc);
  if (ls === undefined) return () => undefined; // not opened here (a test's raw connection): no status
  ls.add(f);
  return () => ls.delete(f);
};

/**
 * Says on `write` when the connection loses its server and when it is back, so a process waiting
 * through a server restart or a cluster leader change says why it is quiet. Returns its removal.
 */
export const reportOutages = (nc: NatsConnection, who: string, write: (line: string) => void): (() => void) => {
  let since: number | undefined;
  return onStatus(nc, (s) => {
    if (s.type === "disconnect" && since === undefined) {
      since = performance.now();
      write(`${who}: lost the NATS server ${s.server}; waiting for it (or another node) and reconnecting; unacknowledged publishes are re-sent with their msgIDs`);
    } else if (s.type === "reconnect" && since !== undefined) {
      write(`${who}: reconnected to ${s.server} after ${((performance.now() - since) / 1000).toFixed(1)} s; resuming`);
      since = undefined;
    }
  });
};

/**
 * Replicas for a run's streams on this connection's server: 3 when it is part of a cluster (R3
 * survives the loss of any one node of infra/nats/cluster), 1 on a single server.
 */
export const streamReplicas = (nc: NatsConnection): number => (nc.info?.cluster === undefined ? 1 : 3);

const open = async (url: string, name: string, login?: NatsLogin): Promise<NatsConnection> => {
  try {
    const nc = await connect({ servers: url.split(","), name, ...RECONNECT, ...(login === undefined ? {} : { authenticator: login.authenticator, inboxPrefix: login.inboxPrefix }) });
    if (login !== undefined) prefixes.set(nc, login.inboxPrefix);
    rideThroughReloads(nc);
    readStatus(nc);
    return nc;
  } catch (e) {
    throw new NatsUnavailable({ message: `cannot connect to ${url}: ${e instanceof Error ? e.message : String(e)}` });
  }
};

/** Connects to `url` (comma-separated for a cluster); the connection drains when the scope closes. */
export const natsConnection = (url: string, name = "swarmline", login?: NatsLogin) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => open(url, name, login),
      catch: (e) => (e instanceof NatsUnavailable ? e : new NatsUnavailable({ message: `cannot connect to ${url}: ${String(e)}` })),
    }),
    (nc) => Effect.promise(() => nc.drain().catch(() => nc.close())),
  );

/** Promise form for scripts and tests: connect, and close yourself with `nc.drain()`. */
export const connectNats = (url: string, name = "swarmline", login?: NatsLogin): Promise<NatsConnection> => open(url, name, login);

/** An unauthenticated connection to a secured server: it may only ask the gatekeeper to join. */
export const connectJoiner = async (url: string): Promise<NatsConnection> => {
  try {
    return await connect({ servers: url.split(","), name: "swarmline-joiner", inboxPrefix: JOINER_INBOX, maxReconnectAttempts: 0 });
  } catch (e) {
    throw new NatsUnavailable({ message: `cannot connect to ${url}: ${e instanceof Error ? e.message : String(e)}` });
  }
};

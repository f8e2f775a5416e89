// A lean JetStream publisher for pipelined appends: core publishes with a reply subject on one
// shared inbox, acks matched by token, one sweep timer for timeouts. The client's js.publish
// builds two Error objects (captured stack traces) per call, about half the CPU of a pipelined
// append; this path does not, and keeps the same server semantics (msgID dedup, expectations).
// It rides through a server restart or a cluster leader change: what is unacknowledged is re-sent,
// with the same msgID, when the connection comes back and when no stream answered for a moment.
import { type ApiError, JetStreamApiError, type PubAck } from "@nats-io/jetstream";
import { headers, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { inboxOf, onStatus } from "./connection.js";

export interface PublishOptions {
  readonly msgID: string;
  /** Nats-Expected-Last-Subject-Sequence */
  readonly lastSubjectSequence?: number;
  /** Nats-Expected-Last-Msg-Id */
  readonly lastMsgID?: string;
  /** More headers (the data channel's reference and lease). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Publishes with JetStream acks; rejects with JetStreamApiError (server refusal) or Error (no ack
 * within the timeout). A publish whose ack is outstanding is re-sent, with its msgID (so the stream
 * stores it once), on every reconnect (the server that took it may have died before storing or
 * answering) and after a "no responders" status (a stream between leaders); each re-send restarts
 * its timeout, so the timeout bounds a silence, not an outage the client can see.
 */
export interface AckPublisher {
  publish(subject: string, data: string | Uint8Array, o: PublishOptions): Promise<PubAck>;
}

interface Pending {
  readonly resolve: (a: PubAck) => void;
  readonly reject: (e: Error) => void;
  /** When it was last sent. */
  at: number;
  /** When it was first sent: "no responders" is retried until this plus the timeout. */
  readonly first: number;
  readonly subject: string;
  readonly data: string | Uint8Array;
  readonly headers: MsgHdrs;
}

/** Wait before re-sending a publish no stream answered (a stream electing a leader answers in a few seconds). */
const NO_RESPONDERS_RETRY_MS = 250;

const decoder = new TextDecoder();

export const ackPublisher = (nc: NatsConnection, timeoutMs: number): AckPublisher => {
  const prefix = inboxOf(nc);
  const pending = new Map<string, Pending>();
  let next = 0;
  let subscribed = false;
  let sweeper: ReturnType<typeof setInterval> | undefined;

  const onAck = (err: Error | null, m: Msg): void => {
    if (err !== null) {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
      return;
    }
    const token = m.subject.slice(prefix.length + 1);
    const p = pending.get(token);
    if (p === undefined) return;
    pending.delete(token);
    if (m.data.length === 0) {
      // A status message: 503 no responders (no stream captures the subject, or none does for the
      // moment: a restarted server loading its streams, a stream electing a leader).
      if (performance.now() - p.first < timeoutMs) {
        pending.set(token, p);
        setTimeout(() => { if (pending.get(token) === p) send(token, p); }, NO_RESPONDERS_RETRY_MS).unref();
        return;
      }
      p.reject(new Error(`no stream answered the publish (status ${m.headers?.code ?? "?"})`));
      return;
    }
    try {
      const body = JSON.parse(decoder.decode(m.data)) as PubAck & { error?: ApiError };
      if (body.error !== undefined) p.reject(new JetStreamApiError(body.error));
      else p.resolve({ stream: body.stream, seq: body.seq, duplicate: body.duplicate === true, domain: body.domain } as PubAck);
    } catch (e) {
      p.reject(e instanceof Error ? e : new Error(String(e)));
    }
  };

  const sweep = (): void => {
    const now = performance.now();
    for (const [token, p] of pending) {
      if (now - p.at > timeoutMs) {
        pending.delete(token);
        p.reject(new Error(`publish ack timed out after ${timeoutMs} ms`));
      }
    }
    if (pending.size === 0 && sweeper !== undefined) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };

  const send = (token: string, p: Pending): void => {
    p.at = performance.now();
    nc.publish(p.subject, p.data, { reply: `${prefix}.${token}`, headers: p.headers });
  };

  return {
    publish: (subject, data, o) => {
      if (!subscribed) {
        nc.subscribe(`${prefix}.*`, { callback: onAck });
        // In send order, so a guarded follower reaches the stream after its predecessor.
        onStatus(nc, (s) => { if (s.type === "reconnect") for (const [token, p] of pending) send(token, p); });
        subscribed = true;
      }
      const token = (next++).toString(36);
      const h = headers();
      h.set("Nats-Msg-Id", o.msgID);
      if (o.lastSubjectSequence !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(o.lastSubjectSequence));
      if (o.lastMsgID !== undefined) h.set("Nats-Expected-Last-Msg-Id", o.lastMsgID);
      for (const [k, v] of Object.entries(o.headers ?? {})) h.set(k, v);
      const now = performance.now();
      const ack = new Promise<PubAck>((resolve, reject) => pending.set(token, { resolve, reject, at: now, first: now, subject, data, headers: h }));
      send(token, pending.get(token) as Pending);
      if (sweeper === undefined) {
        sweeper = setInterval(sweep, Math.max(50, timeoutMs / 4));
        sweeper.unref();
      }
      return ack;
    },
  };
};

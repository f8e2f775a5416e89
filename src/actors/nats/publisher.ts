// A lean JetStream publisher for pipelined appends: core publishes with a reply subject on one
// shared inbox, acks matched by token, one sweep timer for timeouts. The client's js.publish
// builds two Error objects (captured stack traces) per call, about half the CPU of a pipelined
// append; this path does not, and keeps the same server semantics (msgID dedup, expectations).
import { type ApiError, JetStreamApiError, type PubAck } from "@nats-io/jetstream";
import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";

export interface PublishOptions {
  readonly msgID: string;
  /** Nats-Expected-Last-Subject-Sequence */
  readonly lastSubjectSequence?: number;
  /** Nats-Expected-Last-Msg-Id */
  readonly lastMsgID?: string;
}

/** Publishes with JetStream acks; rejects with JetStreamApiError (server refusal) or Error (timeout, no stream). */
export interface AckPublisher {
  publish(subject: string, data: string | Uint8Array, o: PublishOptions): Promise<PubAck>;
}

interface Pending {
  readonly resolve: (a: PubAck) => void;
  readonly reject: (e: Error) => void;
  readonly at: number;
}

const decoder = new TextDecoder();

export const ackPublisher = (nc: NatsConnection, timeoutMs: number): AckPublisher => {
  const prefix = createInbox();
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
      // A status message: 503 no responders (no stream captures the subject).
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

  return {
    publish: (subject, data, o) => {
      if (!subscribed) {
        nc.subscribe(`${prefix}.*`, { callback: onAck });
        subscribed = true;
      }
      const token = (next++).toString(36);
      const h = headers();
      h.set("Nats-Msg-Id", o.msgID);
      if (o.lastSubjectSequence !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(o.lastSubjectSequence));
      if (o.lastMsgID !== undefined) h.set("Nats-Expected-Last-Msg-Id", o.lastMsgID);
      const ack = new Promise<PubAck>((resolve, reject) => pending.set(token, { resolve, reject, at: performance.now() }));
      nc.publish(subject, data, { reply: `${prefix}.${token}`, headers: h });
      if (sweeper === undefined) {
        sweeper = setInterval(sweep, Math.max(50, timeoutMs / 4));
        sweeper.unref();
      }
      return ack;
    },
  };
};

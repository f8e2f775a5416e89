// The data channel of a run: compressed activations and gradients travel inline on the run's data
// stream, addressed to one miner (subjects.data). Each message names its content hash (the ref in
// the fact that announces it) and its lease; a receiver acknowledges a message only once the work
// it fed has been recorded, so an unprocessed message is redelivered.
import { AckPolicy, DeliverPolicy, jetstream, JetStreamApiError, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type DataKind, streams, subjects } from "../../events/subjects.js";
import { streamReplicas } from "./connection.js";
import { dataStreamConfig, type StreamOptions } from "./definitions.js";
import { ackPublisher } from "./publisher.js";
import { PULL_EXPIRES_MS, ridingThrough } from "./ride-through.js";

/** One inbound data message. `ack()` once the work it fed is recorded (idempotent). */
export interface DataMessage {
  readonly kind: DataKind;
  readonly ref: string;
  readonly lease: string;
  readonly data: Uint8Array;
  ack(): void;
}

export interface DataChannel {
  /** Publishes `data` from `from` to `to`; resolves once the stream stored it (deduplicated by recipient, lease and ref). */
  send(kind: DataKind, from: string, to: string, ref: string, lease: string, data: Uint8Array): Promise<void>;
  /**
   * Receives every data message addressed to `me` that is published from now on, in stream order.
   * Resolves once the consumer exists; the returned function stops it (and deletes it).
   */
  receive(me: string, name: string, handle: (m: DataMessage) => void): Promise<() => Promise<void>>;
  /**
   * Reads every data message of the run from the start of the stream, in stream order, without
   * acknowledging (an ordered consumer: a validator caching what it may re-execute). Resolves once
   * reading started; the returned DataWatch says when it caught up and stops it.
   */
  watch(handle: (m: Omit<DataMessage, "ack"> & { readonly to: string }) => void): Promise<DataWatch>;
}

/** A running `watch`. */
export interface DataWatch {
  /**
   * Resolves true once the watch has handed over every message the stream held when called (its
   * reader can lag the run's facts: they travel on another stream), false after `timeoutMs` or when
   * the stream's end cannot be read.
   */
  caughtUp(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

const nanos = (ms: number): number => ms * 1_000_000;
const KINDS: readonly DataKind[] = ["act", "grad", "part"];
/** The kind token of a data subject (swl.<run>.d.<kind>.<to>.<from>). */
const kindOf = (subject: string): DataKind | undefined => KINDS.find((k) => subject.split(".")[3] === k);

/** Creates the run's data stream unless it exists. */
export const ensureDataStream = async (nc: NatsConnection, run: string, o: StreamOptions = {}): Promise<void> => {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const cfg = dataStreamConfig(run, { replicas: o.replicas ?? streamReplicas(nc) });
  try {
    await jsm.streams.info(cfg.name);
  } catch {
    try {
      await jsm.streams.add(cfg);
    } catch (e) {
      if (!(e instanceof JetStreamApiError && /already in use/.test(e.message))) throw e;
    }
  }
};

/** The run's data channel over a connection the caller owns. */
export const natsDataChannel = async (nc: NatsConnection, run: string, o: StreamOptions = {}): Promise<DataChannel> => {
  await ensureDataStream(nc, run, o);
  const js = jetstream(nc, { timeout: 20_000 });
  // Re-sent with its msgID on a reconnect, and again (the same msgID) while the server is away.
  const publisher = ackPublisher(nc, 20_000);
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const stream = streams.data(run);
  return {
    send: async (kind, from, to, ref, lease, data) => {
      // Two leases may carry identical bytes: the lease is part of what a message is.
      const msgID = `${kind}-${to}-${lease}-${ref}`;
      await ridingThrough(
        () => publisher.publish(subjects.data(run, kind, to, from), data, { msgID, headers: { "Swl-Ref": ref, "Swl-Lease": lease } }),
        (e) => !(e instanceof JetStreamApiError),
      );
    },
    watch: async (handle) => {
      const consumer = await js.consumers.get(stream, { filter_subjects: subjects.dataAll(run), deliver_policy: DeliverPolicy.All });
      const messages = await consumer.consume({ max_messages: 512, expires: PULL_EXPIRES_MS });
      // The stream sequence handed over so far, and who waits for one.
      let position = 0;
      const waiting = new Set<{ readonly seq: number; readonly done: (ok: boolean) => void }>();
      const loop = (async () => {
        for await (const m of messages) {
          const kind = kindOf(m.subject);
          const ref = m.headers?.get("Swl-Ref") ?? "";
          // swl.<run>.d.<kind>.<to>.<from>
          if (kind !== undefined && ref !== "") handle({ kind, ref, lease: m.headers?.get("Swl-Lease") ?? "", data: m.data, to: m.subject.split(".")[4] ?? "" });
          position = Math.max(position, m.seq);
          for (const w of waiting) if (w.seq <= position) w.done(true);
        }
      })();
      loop.catch(() => undefined);
      return {
        caughtUp: async (timeoutMs) => {
          // Where the stream ends now; unknown (the server away) counts as not caught up.
          const seq = await jsm.streams.info(stream).then((i) => i.state.last_seq, () => undefined);
          if (seq === undefined) return false;
          if (seq <= position) return true;
          return new Promise<boolean>((resolve) => {
            const w = { seq, done: (ok: boolean) => { clearTimeout(timer); waiting.delete(w); resolve(ok); } };
            const timer = setTimeout(() => w.done(false), timeoutMs);
            waiting.add(w);
          });
        },
        stop: async () => {
          await messages.close().catch(() => undefined);
          await loop.catch(() => undefined);
          for (const w of waiting) w.done(false);
        },
      };
    },
    receive: async (me, name, handle) => {
      await jsm.consumers.add(stream, {
        durable_name: name,
        filter_subject: subjects.dataTo(run, me),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        ack_wait: nanos(300_000),
        max_ack_pending: 10_000,
        inactive_threshold: nanos(3_600_000),
      });
      const consumer = await js.consumers.get(stream, name);
      const messages = await consumer.consume({ max_messages: 256, expires: PULL_EXPIRES_MS });
      const loop = (async () => {
        for await (const m of messages) {
          const kind = kindOf(m.subject);
          const ref = m.headers?.get("Swl-Ref") ?? "";
          const lease = m.headers?.get("Swl-Lease") ?? "";
          if (kind === undefined || ref === "") {
            m.term();
            continue;
          }
          let acked = false;
          const msg: JsMsg = m;
          handle({ kind, ref, lease, data: m.data, ack: () => { if (!acked) { acked = true; msg.ack(); } } });
        }
      })();
      loop.catch(() => undefined);
      return async () => {
        await messages.close().catch(() => undefined);
        await loop.catch(() => undefined);
        await jsm.consumers.delete(stream, name).catch(() => undefined);
      };
    },
  };
};

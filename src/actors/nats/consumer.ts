// The ingest consumer: a durable JetStream consumer on a run's facts that passes every message
// through the IngestGate, hands accepted events to a handler in order, and records each refusal
// (reason, detail, original bytes) on the dead-letter subject before acknowledging it.
import { jetstream, JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JsMsg, type PubAck } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Envelope } from "../../events/envelope.js";
import type { IngestGate, IngestReason } from "../../events/ingest.js";
import { streams, subjects } from "../../events/subjects.js";
import { ingestConsumerConfig, type StreamOptions } from "./definitions.js";
import { streamReplicas } from "./connection.js";
import { ensureRunStreams } from "./eventlog.js";
import type { Refill } from "./refill.js";
import { PULL_EXPIRES_MS, ridingThrough } from "./ride-through.js";

/** What the dead-letter subject records about one refused message. */
export interface DeadLetter {
  readonly reason: IngestReason;
  readonly detail: string;
  /** Set when the envelope could be read. */
  readonly eventId?: string;
  readonly actor?: string;
  /** The event's actor-local seq, when it could be read. */
  readonly seq?: number;
  /** Where the refused message was: its subject and facts-stream sequence. */
  readonly subject: string;
  readonly streamSeq: number;
  /** The consumer that refused it. */
  readonly consumer: string;
  /** The refused message's bytes, base64. */
  readonly data: string;
}

export interface IngestConsumerOptions extends StreamOptions {
  readonly nc: NatsConnection;
  readonly run: string;
  /** Durable consumer name, also the dead-letter subject's last token ([A-Za-z0-9_-]). */
  readonly name: string;
  /** The gate; give it `heads` when resuming a consumer that already handled part of the log. */
  readonly gate: IngestGate;
  /**
   * Receives accepted events in chain order, with the stream sequence of the message that
   * released them. The messages are acknowledged after it resolves; if it throws, the consumer
   * stops (the unacknowledged messages are redelivered to the next instance).
   */
  readonly handle: (events: readonly Envelope[], streamSeq: number) => void | Promise<void>;
  /**
   * Called with each new message's stream sequence once the gate has judged it, whatever the
   * verdict (accepted, held or refused): how far the consumer has read, so a reader waiting for
   * "everything up to seq N" is not stalled by a held or refused last message.
   */
  readonly onPosition?: (streamSeq: number) => void;
  /** Called after a dead letter is recorded (tests, metrics). */
  readonly onDeadLetter?: (letter: DeadLetter) => void;
  /**
   * Copies of facts the stream lost (sequences with no message before a delivered one), from the
   * producers' journals (refill.ts): offered to the gate at their holes, in stream order, before
   * anything after them. Without it a hole is passed over (and the chain of its actor breaks).
   */
  readonly refill?: (streamSeqs: readonly number[]) => Promise<ReadonlyMap<number, readonly Refill[]>>;
  /** Told of each hole once its refill was tried: the copies offered (0: none came). */
  readonly onHole?: (streamSeq: number, copies: number) => void;
}

export interface IngestStats {
  /** Messages offered to the gate. */
  readonly offered: number;
  /** Events handed to the handler. */
  readonly accepted: number;
  /** Unsigned events currently waiting for their signed head. */
  readonly held: number;
  /** Dead letters recorded. */
  readonly rejected: number;
}

export interface IngestConsumer {
  stats(): IngestStats;
  /** Stops consuming; resolves once the in-flight dead letters are recorded. */
  stop(): Promise<void>;
  /** Settles when the consumer stops: rejects if the handler or the bus failed. */
  readonly done: Promise<void>;
}

const decoder = new TextDecoder();

/** The actor of a message the gate held (it parsed as an envelope, so this cannot fail). */
const actorOf = (data: Uint8Array): string => (JSON.parse(decoder.decode(data)) as { actor: string }).actor;

/** One stored message of the facts stream, delivered by the consumer (`msg`, to acknowledge) or read directly. */
interface Stored {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly msg?: JsMsg;
}

/**
 * Starts consuming the run's facts through `gate`. Acknowledgement follows the handling: an
 * accepted message after the handler, a held one after the signed head that releases it, a
 * refused one after its dead letter is stored. Nothing valid is dropped by bad input, since the
 * gate is unchanged by a refusal.
 */
export const startIngestConsumer = async (o: IngestConsumerOptions): Promise<IngestConsumer> => {
  const jsm = await jetstreamManager(o.nc, { checkAPI: false });
  await ensureRunStreams(jsm, o.run, { replicas: o.replicas ?? streamReplicas(o.nc) });
  const stream = streams.facts(o.run);
  await jsm.consumers.add(stream, ingestConsumerConfig(o.run, o.name));
  const js = jetstream(o.nc);
  const consumer = await js.consumers.get(stream, o.name);
  const messages = await consumer.consume({ max_messages: 1024, expires: PULL_EXPIRES_MS });
  const dlqSubject = subjects.deadLetter(o.run, o.name);

  let offered = 0;
  let accepted = 0;
  let rejected = 0;
  /** Held messages per actor, by stream seq: acknowledged when their head is accepted. */
  const held = new Map<string, Stored[]>();
  const heldSeqs = new Set<number>();
  let highest = 0;
  const fresh = o.gate.heads().size === 0;
  const inFlight = new Set<Promise<unknown>>();

  const deadLetter = (m: Stored, error: Extract<ReturnType<IngestGate["offer"]>, { _tag: "Rejected" }>["error"]): void => {
    const letter: DeadLetter = {
      reason: error._tag,
      detail: error.detail,
      ...(error.eventId === undefined ? {} : { eventId: error.eventId }),
      ...(error.actor === undefined ? {} : { actor: error.actor }),
      ...(error.seq === undefined ? {} : { seq: error.seq }),
      subject: m.subject,
      streamSeq: m.seq,
      consumer: o.name,
      data: Buffer.from(m.data).toString("base64"),
    };
    // msgID: a redelivered refusal is recorded once.
    const p: Promise<PubAck | void> = js
      .publish(dlqSubject, JSON.stringify(letter), { msgID: `${o.name}-${m.seq}` })
      .then(() => {
        rejected += 1;
        m.msg?.ack();
        o.onDeadLetter?.(letter);
      })
      // Not acknowledged: redelivered after ack_wait and refused (and recorded) again.
      .catch(() => undefined)
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  /** Passes one message through the gate, in stream order. */
  const judge = async (m: Stored): Promise<void> => {
    highest = m.seq;
    offered += 1;
    const r = o.gate.offer(m.data, subjects.factsActor(o.run, m.subject));
    if (r._tag === "Rejected") {
      deadLetter(m, r.error);
    } else if (r._tag === "Held") {
      const actor = actorOf(m.data);
      const list = held.get(actor);
      if (list === undefined) held.set(actor, [m]);
      else list.push(m);
      heldSeqs.add(m.seq);
    } else {
      await o.handle(r.events, m.seq);
      accepted += r.events.length;
      const actor = r.events[r.events.length - 1]?.actor;
      for (const h of (actor === undefined ? undefined : held.get(actor)) ?? []) {
        h.msg?.ack();
        heldSeqs.delete(h.seq);
      }
      if (actor !== undefined) held.delete(actor);
      m.msg?.ack();
    }
    o.onPosition?.(m.seq);
  };

  /**
   * The messages between the last one judged and `seq`, read directly from the stream. A server
   * killed and restarted (or a consumer leader that died) may have recorded as delivered messages
   * that never reached this client; it sends them again only after ack_wait, and meanwhile delivers
   * the ones after them. Judged out of order they would fork the fold from the log's order (and
   * their late redelivery would look handled), so the gap is filled first; the redeliveries are
   * then acknowledged as handled.
   */
  const fillGap = async (seq: number): Promise<void> => {
    const found: (Stored | undefined)[] = [];
    for (let missing = highest + 1; missing < seq; missing++) {
      const sm = await ridingThrough(() => jsm.streams.getMessage(stream, { seq: missing }), (e) => !(e instanceof JetStreamApiError))
        .catch((e: unknown) => { if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound) return null; throw e; });
      found.push(sm === null ? undefined : { seq: sm.seq, subject: sm.subject, data: sm.data });
    }
    // Holes: the stream lost these (or they were deleted). Their copies go in at their places.
    const holes = found.flatMap((m, i) => (m === undefined ? [highest + 1 + i] : []));
    const copies = holes.length === 0 || o.refill === undefined ? new Map<number, readonly Refill[]>() : await o.refill(holes);
    const from = highest + 1;
    for (let i = 0; i < found.length; i++) {
      const m = found[i];
      if (m !== undefined) {
        await judge(m);
        continue;
      }
      const list = copies.get(from + i) ?? [];
      for (const c of list) await judge(c);
      o.onHole?.(from + i, list.length);
    }
  };

  const loop = async (): Promise<void> => {
    for await (const m of messages) {
      if (m.seq <= highest) {
        // A redelivery of a message already handled (its ack was lost, or it was read directly) or still held.
        if (!heldSeqs.has(m.seq)) m.ack();
        else m.working();
        continue;
      }
      // Not before the first message of a consumer resumed mid-log (its gate has heads): it starts
      // past its first sequence. A fresh one reads from seq 1, so a first delivery past it is a hole.
      if (m.seq > highest + 1 && (highest > 0 || fresh)) await fillGap(m.seq);
      await judge({ seq: m.seq, subject: m.subject, data: m.data, msg: m });
    }
  };

  const done = loop().finally(async () => {
    messages.stop();
    await Promise.all([...inFlight]);
  });
  // The loop's failure is reported through `done`; keep it from being an unhandled rejection.
  done.catch(() => undefined);

  return {
    stats: () => ({ offered, accepted, held: heldSeqs.size, rejected }),
    stop: async () => {
      await messages.close();
      await done.catch(() => undefined);
    },
    done,
  };
};

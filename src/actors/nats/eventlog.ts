// The EventLog on NATS JetStream: one facts stream per run, one literal subject per actor,
// event id as msgID, pipelined async acks, ordered consumers for replay and live subscribe.
import {
  type ConsumerMessages,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Channel, Effect, Layer, Stream } from "effect";
import type { Envelope } from "../../events/envelope.js";
import { streams, subjects } from "../../events/subjects.js";
import { checkAppend, parseEntry } from "../eventlog/codec.js";
import { AppendConflict, AppendRejected, NatsUnavailable, UnreadableEntry } from "../eventlog/errors.js";
import { EventLog, type EventLogShape, type LogEntry, type RawEntry, type ReadOptions } from "../eventlog/service.js";
import { deadLetterStreamConfig, factsStreamConfig, refillStreamConfig, type StreamOptions } from "./definitions.js";
import { streamReplicas } from "./connection.js";
import { ackPublisher } from "./publisher.js";
import { readRange } from "./range-reader.js";
import { PULL_EXPIRES_MS } from "./ride-through.js";

type NonEmpty<A> = readonly [A, ...A[]];

async function* nonEmpty<A>(it: AsyncIterable<readonly A[]>): AsyncGenerator<NonEmpty<A>> {
  for await (const chunk of it) if (chunk.length > 0) yield chunk as NonEmpty<A>;
}

/** How many publishes one append keeps in flight before it waits for their acks. */
const WINDOW = 4096;
/** Entries handed downstream per chunk on replay. */
const CHUNK = 512;

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const isNotFound = (e: unknown): boolean =>
  e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound;

/** Creates the run's facts and dead-letter streams unless they exist (idempotent, race-safe). */
export const ensureRunStreams = async (jsm: JetStreamManager, run: string, o: StreamOptions = {}): Promise<void> => {
  for (const cfg of [factsStreamConfig(run, o), refillStreamConfig(run, o), deadLetterStreamConfig(run, o)]) {
    try {
      await jsm.streams.info(cfg.name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      try {
        await jsm.streams.add(cfg);
      } catch (e2) {
        // Another process created it between our info and add.
        if (!(e2 instanceof JetStreamApiError && /already in use/.test(e2.message))) throw e2;
      }
    }
  }
};

export interface NatsEventLogOptions extends StreamOptions {
  /** Publish ack timeout, ms (default 10,000: a killed R3 leader stalls publishes ~4 s). */
  readonly timeoutMs?: number;
}

/** The EventLog over a live connection (the caller owns and closes the connection). */
export const makeNatsEventLog = (nc: NatsConnection, options: NatsEventLogOptions = {}): EventLogShape => {
  const js: JetStreamClient = jetstream(nc, { timeout: options.timeoutMs ?? 10_000 });
  let jsmP: Promise<JetStreamManager> | undefined;
  const jsm = (): Promise<JetStreamManager> => (jsmP ??= jetstreamManager(nc, { checkAPI: false }));
  const ensured = new Map<string, Promise<void>>();
  const ensure = (run: string): Promise<void> => {
    let p = ensured.get(run);
    if (p === undefined) {
      p = jsm().then((m) => ensureRunStreams(m, run, { replicas: options.replicas ?? streamReplicas(nc) }));
      p.catch(() => ensured.delete(run));
      ensured.set(run, p);
    }
    return p;
  };

  const toAppendError = (run: string, actor: string, expected: number | undefined, e: unknown) => {
    if (e instanceof JetStreamApiError) {
      if (e.code === JetStreamApiCodes.StreamWrongLastSequence && expected !== undefined) {
        const actual = Number(/(\d+)\s*$/.exec(e.message)?.[1] ?? -1);
        return new AppendConflict({ run, actor, expected, actual, message: e.message });
      }
      return new AppendRejected({ run, actor, message: e.message });
    }
    return new NatsUnavailable({ message: `append to ${run}/${actor}: ${describe(e)}` });
  };

  type Guard = { readonly lastSubjectSequence: number } | { readonly lastMsgID: string } | undefined;
  const publisher = ackPublisher(nc, options.timeoutMs ?? 10_000);
  const publish = (subject: string, e: Envelope, guard: Guard): Promise<PubAck> =>
    publisher.publish(subject, JSON.stringify(e), { msgID: e.id, ...guard });

  /** nats-server's "wrong last msg ID" (JSStreamWrongLastMsgIDErrF). */
  const WRONG_LAST_MSG_ID = 10070;

  /**
   * A guarded batch without a round trip per batch. nats-server 2.9 has no atomic batch and
   * checks the expected last subject sequence per message, whose value for a follower is unknown
   * until its predecessor is acknowledged. So the first envelope carries the subject-sequence
   * guard and each follower expects its predecessor's id as the stream's last msgID, all sent
   * back to back: a follower is stored only directly after its predecessor, so a refused first
   * envelope refuses the whole batch. Appends from other connections interleaving make followers
   * fail spuriously; the append then resumes from the first refused one, guarded by the
   * subject sequence its predecessor got. JetStream checks msgID dedup before either guard, so a
   * retried append still returns the original sequences.
   */
  const guardedAppend = async (run: string, actor: string, subject: string, envelopes: readonly Envelope[], expected: number) => {
    const seqs: number[] = new Array<number>(envelopes.length);
    let i = 0;
    while (i < envelopes.length) {
      const end = Math.min(envelopes.length, i + WINDOW);
      const guard = i === 0 ? expected : (seqs[i - 1] as number);
      const acks: Promise<PubAck>[] = [publish(subject, envelopes[i] as Envelope, { lastSubjectSequence: guard })];
      for (let k = i + 1; k < end; k++) acks.push(publish(subject, envelopes[k] as Envelope, { lastMsgID: (envelopes[k - 1] as Envelope).id }));
      const results = await Promise.allSettled(acks);
      const first = results[0] as PromiseSettledResult<PubAck>;
      if (first.status === "rejected") throw toAppendError(run, actor, guard, first.reason);
      let k = 0;
      for (; k < results.length; k++) {
        const r = results[k] as PromiseSettledResult<PubAck>;
        if (r.status === "fulfilled") seqs[i + k] = r.value.seq;
        else if (r.reason instanceof JetStreamApiError && r.reason.code === WRONG_LAST_MSG_ID) break;
        else throw toAppendError(run, actor, undefined, r.reason);
      }
      i += k;
    }
    return seqs;
  };

  const append: EventLogShape["append"] = (run, actor, envelopes, opts = {}) => {
    const bad = checkAppend(run, actor, envelopes);
    if (bad !== undefined) return Effect.fail(bad);
    const expected = opts.expectedLastSubjectSeq;
    return Effect.tryPromise({
      try: async () => {
        await ensure(run);
        const subject = subjects.facts(run, actor);
        if (expected !== undefined) return await guardedAppend(run, actor, subject, envelopes, expected);
        const seqs: number[] = new Array<number>(envelopes.length);
        for (let i = 0; i < envelopes.length; i += WINDOW) {
          const end = Math.min(envelopes.length, i + WINDOW);
          const acks: Promise<PubAck>[] = [];
          for (let k = i; k < end; k++) acks.push(publish(subject, envelopes[k] as Envelope, undefined));
          const done = await Promise.all(acks);
          for (let k = 0; k < done.length; k++) seqs[i + k] = (done[k] as PubAck).seq;
        }
        return seqs;
      },
      catch: (e) =>
        e instanceof AppendConflict || e instanceof AppendRejected || e instanceof NatsUnavailable ? e : toAppendError(run, actor, expected, e),
    });
  };

  /** The run's stream end (0 when the stream does not exist yet). */
  const lastSeqP = async (run: string): Promise<number> => {
    try {
      return (await (await jsm()).streams.info(streams.facts(run))).state.last_seq;
    } catch (e) {
      if (isNotFound(e)) return 0;
      throw e;
    }
  };

  /** Ordered-consumer replay in chunks; stops at `end` (or never, when end is undefined). */
  async function* chunks(run: string, from: number, end: number | undefined): AsyncGenerator<RawEntry[]> {
    if (end !== undefined && end < from) return;
    if (end === undefined) await ensure(run);
    const consumer = await js.consumers.get(streams.facts(run), {
      filter_subjects: subjects.factsAll(run),
      deliver_policy: "by_start_sequence",
      opt_start_seq: Math.max(1, from),
    });
    const it: ConsumerMessages = await consumer.consume({ max_messages: 2048, expires: PULL_EXPIRES_MS });
    try {
      let batch: RawEntry[] = [];
      for await (const m of it) {
        batch.push({ seq: m.seq, subject: m.subject, data: m.data });
        const last = end !== undefined && (m.seq >= end || m.info.pending === 0);
        if (last || batch.length >= CHUNK || it.getPending() === 0) {
          yield batch;
          batch = [];
        }
        if (last) return;
      }
    } finally {
      it.stop();
    }
  }

  /** A finite read (end known) uses the fast range reader; a live one the ordered consumer. */
  const source = async (run: string, from: number, end: number | undefined, actor?: string): Promise<AsyncIterable<readonly RawEntry[]>> =>
    end === undefined
      ? chunks(run, from, undefined)
      : readRange(nc, await jsm(), { stream: streams.facts(run), filter: actor === undefined ? subjects.factsAll(run) : subjects.facts(run, actor), from, end });

  const rawStream = (run: string, from: number, end: () => Promise<number | undefined>, actor?: string): Stream.Stream<RawEntry, NatsUnavailable> =>
    Stream.unwrap(
      Effect.tryPromise({
        try: async () => {
          const e = await end();
          const it = await source(run, from, e, actor);
          return Stream.fromChannel(
            Channel.fromAsyncIterable(nonEmpty(it), (err) => new NatsUnavailable({ message: `read ${run}: ${describe(err)}` })),
          );
        },
        catch: (err) => new NatsUnavailable({ message: `read ${run}: ${describe(err)}` }),
      }),
    );

  const readEnd = (run: string, o: ReadOptions) => async () => Math.min(o.toSeq ?? Number.MAX_SAFE_INTEGER, await lastSeqP(run));

  type Chunk<A> = NonEmpty<A>;
  const decodeChunk = (run: string) => (es: Chunk<RawEntry>): Effect.Effect<Chunk<LogEntry>, UnreadableEntry> => {
    const out: LogEntry[] = new Array<LogEntry>(es.length);
    for (let i = 0; i < es.length; i++) {
      const r = parseEntry(run, es[i] as RawEntry);
      if (r instanceof UnreadableEntry) return Effect.fail(r);
      out[i] = r;
    }
    return Effect.succeed(out as unknown as Chunk<LogEntry>);
  };
  const decoded = (run: string, s: Stream.Stream<RawEntry, NatsUnavailable>) =>
    s.pipe(Stream.mapArrayEffect(decodeChunk(run)));

  return {
    append,
    readRaw: (run, o = {}) => rawStream(run, o.fromSeq ?? 1, readEnd(run, o), o.actor),
    read: (run, o = {}) => decoded(run, rawStream(run, o.fromSeq ?? 1, readEnd(run, o), o.actor)),
    subscribe: (run, o = {}) => decoded(run, rawStream(run, o.fromSeq ?? 1, async () => undefined)),
    lastSubjectSeq: (run, actor) =>
      Effect.tryPromise({
        try: async () => {
          try {
            const m = await (await jsm()).streams.getMessage(streams.facts(run), { last_by_subj: subjects.facts(run, actor) });
            return m?.seq ?? 0;
          } catch (e) {
            if (isNotFound(e)) return 0;
            throw e;
          }
        },
        catch: (e) => new NatsUnavailable({ message: `lastSubjectSeq ${run}/${actor}: ${describe(e)}` }),
      }),
    lastSeq: (run) =>
      Effect.tryPromise({ try: () => lastSeqP(run), catch: (e) => new NatsUnavailable({ message: `lastSeq ${run}: ${describe(e)}` }) }),
  };
};

/** The NATS EventLog as a layer over a connection the caller owns. */
export const layerNats = (nc: NatsConnection, options: NatsEventLogOptions = {}): Layer.Layer<EventLog> =>
  Layer.sync(EventLog, () => makeNatsEventLog(nc, options));

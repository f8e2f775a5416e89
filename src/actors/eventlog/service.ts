// The EventLog service: the run's facts in stream order. Appends are per actor (one subject
// each) with msgID dedup and expected-last-subject-sequence concurrency; reads replay in order.
import { Context, type Effect, type Stream } from "effect";
import type { Envelope } from "../../events/envelope.js";
import type { AppendConflict, AppendRejected, NatsUnavailable, UnreadableEntry } from "./errors.js";

/** One fact at its position in the run's stream. */
export interface LogEntry {
  /** Stream sequence: the run-wide order, 1-based. */
  readonly seq: number;
  readonly envelope: Envelope;
}

/** One stored message, bytes untouched (the ingest path checks them itself). */
export interface RawEntry {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
}

export interface AppendOptions {
  /**
   * The stream sequence of the actor's last fact as the appender knows it (0: none yet). When the
   * subject ends elsewhere the append fails with AppendConflict and writes nothing.
   *
   * On NATS the whole batch is guarded without waiting for acks: the first envelope carries the
   * expected subject sequence and each follower expects its predecessor as the stream's last
   * msgID (see makeNatsEventLog), so a refused first envelope refuses them all.
   */
  readonly expectedLastSubjectSeq?: number;
}

export interface ReadOptions {
  /** First stream sequence to return (default 1). */
  readonly fromSeq?: number;
  /** Last stream sequence to return, inclusive (default: the end of the log when the read starts). */
  readonly toSeq?: number;
  /** Only what is stored on this actor's subject (its facts, and anything else published there). */
  readonly actor?: string;
}

export interface SubscribeOptions {
  /** First stream sequence to return (default 1); the stream then follows new appends forever. */
  readonly fromSeq?: number;
}

export type ReadError = NatsUnavailable | UnreadableEntry;

export interface EventLogShape {
  /**
   * Appends one actor's envelopes, in order, to the run's log; resolves to their stream
   * sequences. Idempotent by event id: a retried append returns the original sequences.
   */
  readonly append: (
    run: string,
    actor: string,
    envelopes: readonly Envelope[],
    options?: AppendOptions,
  ) => Effect.Effect<readonly number[], AppendConflict | AppendRejected | NatsUnavailable>;
  /** The run's facts from a sequence up to the end of the log as it was when the read began. */
  readonly read: (run: string, options?: ReadOptions) => Stream.Stream<LogEntry, ReadError>;
  /** As `read`, bytes untouched. */
  readonly readRaw: (run: string, options?: ReadOptions) => Stream.Stream<RawEntry, NatsUnavailable>;
  /** The run's facts from a sequence, then every new one as it is appended; never ends. */
  readonly subscribe: (run: string, options?: SubscribeOptions) => Stream.Stream<LogEntry, ReadError>;
  /** Stream sequence of the actor's last fact (0 if none): where a resumed ActorChain appends. */
  readonly lastSubjectSeq: (run: string, actor: string) => Effect.Effect<number, NatsUnavailable>;
  /** Stream sequence of the run's last fact (0 if none). */
  readonly lastSeq: (run: string) => Effect.Effect<number, NatsUnavailable>;
}

/** The run's log of facts. Provide `layerMemory()` in tests and `layerNats(connection)` for real. */
export class EventLog extends Context.Service<EventLog, EventLogShape>()("swarmline/EventLog") {}

// The EventLog's expected failures, as tagged errors: the caller retries NatsUnavailable with a
// Schedule, re-reads and re-decides on AppendConflict, and treats the rest as bugs or bad data.
import { Schema } from "effect";

/**
 * The actor's subject did not end where the appender expected: another writer (a second instance
 * of the same actor) appended first. Nothing of the batch was written.
 */
export class AppendConflict extends Schema.TaggedError<AppendConflict>()("AppendConflict", {
  run: Schema.String,
  actor: Schema.String,
  expected: Schema.Number,
  /** The subject's last stream sequence when the server knows it; -1 otherwise. */
  actual: Schema.Number,
  message: Schema.String,
}) {}

/** The bus could not be reached or timed out; retrying with the same event ids is safe (msgID dedup). */
export class NatsUnavailable extends Schema.TaggedError<NatsUnavailable>()("NatsUnavailable", {
  message: Schema.String,
}) {}

/** The append can never succeed as asked (an envelope of another run or actor, too large, stream full). */
export class AppendRejected extends Schema.TaggedError<AppendRejected>()("AppendRejected", {
  run: Schema.String,
  actor: Schema.String,
  message: Schema.String,
}) {}

/** A stored message is not JSON: the log holds bytes that no honest appender wrote. */
export class UnreadableEntry extends Schema.TaggedError<UnreadableEntry>()("UnreadableEntry", {
  run: Schema.String,
  seq: Schema.Number,
  subject: Schema.String,
  message: Schema.String,
}) {}

/**
 * A message on an actor's subject that is not an event of that actor's own chain (garbage, a
 * forged or replayed event, another actor's event): whoever may publish there can move the
 * subject's last sequence. The actor's writer reports it and appends after it; readers refuse it.
 */
export class ForeignMessage extends Schema.TaggedError<ForeignMessage>()("ForeignMessage", {
  run: Schema.String,
  actor: Schema.String,
  /** Its stream sequence. */
  seq: Schema.Number,
  /** Why it is not the actor's: the ingest gate's reason, or OtherActor / Unsigned. */
  reason: Schema.String,
  message: Schema.String,
}) {}

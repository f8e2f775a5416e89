// Recording a submission onto a run's live log (NATS): the two facts log-record.ts seals, appended
// on the validator's subject as one batch guarded by where that subject ended in the audited log.
// Not through an ActorWriter: a writer certifies its session in a batch of its own and steps over
// conflicts by re-reading its tail, while a record must land whole on the chain it was sealed on.
import { Effect, Schedule } from "effect";
import type { AppendConflict, AppendRejected, NatsUnavailable } from "../eventlog/errors.js";
import type { EventLogShape } from "../eventlog/service.js";
import type { Hotkey } from "../identity/index.js";
import type { SwarmPayloads } from "../../events/swarm/index.js";
import { type RecordBasis, type RecordOptions, sealWeightsSubmitted } from "./log-record.js";

/**
 * Appends SessionKeyCertified + WeightsSubmitted to `basis.run` on `hotkey`'s subject and resolves
 * to their stream sequences. Fails with AppendConflict, nothing written, when the subject no longer
 * ends at `basis.subjectSeq` (another writer of the validator's chain, or anyone on an open
 * server, appended since the log was read). A bus failure is retried with the same event ids, so
 * what already landed is deduplicated rather than written twice.
 */
export const recordOnRun = (
  log: EventLogShape,
  basis: RecordBasis,
  hotkey: Hotkey,
  payload: SwarmPayloads["WeightsSubmitted"],
  o: RecordOptions,
): Effect.Effect<readonly number[], AppendConflict | AppendRejected | NatsUnavailable> =>
  Effect.suspend(() => {
    // Sealed once: a retry must resend the same bytes (a re-sealed certificate would hash otherwise).
    const envelopes = sealWeightsSubmitted(basis, hotkey, payload, o);
    return log.append(basis.run, basis.actor, envelopes, { expectedLastSubjectSeq: basis.subjectSeq }).pipe(
      // A plain boolean, not a type guard: the last NatsUnavailable still fails the effect.
      Effect.retry({ while: (e): boolean => e._tag === "NatsUnavailable", schedule: Schedule.exponential("200 millis"), times: 5 }),
    );
  });

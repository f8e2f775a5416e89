// Butterfly All-Reduce facts (DESIGN "Merging"): the orchestrator plans a stage's merge, seals the
// contributor set, accepts partitions whose reducers agree, settles disputes, and completes the
// merge; miners send partitions and publish result hashes.
import { Schema } from "effect";
import { defineEvent } from "../registry.js";

const Participant = Schema.Struct({ miner: Schema.String, samples: Schema.Int });

/**
 * By the orchestrator: merge (this event's id) of `stage`, epoch `epoch`. `reducers[i]` are the two
 * reducers of partition i (assignReducers with rngFor(seed, "merge", id)).
 */
export const MergeStarted = defineEvent("MergeStarted", 1, Schema.Struct({
  stage: Schema.Int, epoch: Schema.Int, participants: Schema.Array(Participant), partitions: Schema.Int,
  reducers: Schema.Array(Schema.Array(Schema.String)), gatherDeadline: Schema.Int, deadline: Schema.Int,
}));
/** By a participant: its copy of every partition was sent to its reducers; `refs[i]` is partition i's content hash. */
export const PartitionsSent = defineEvent("PartitionsSent", 1, Schema.Struct({
  merge: Schema.String, refs: Schema.Array(Schema.String), bytes: Schema.Int,
}));
/** By the orchestrator: the exact contributor set (and weights) every reducer averages over. */
export const MergeSealed = defineEvent("MergeSealed", 1, Schema.Struct({ merge: Schema.String, contributors: Schema.Array(Participant) }));
/** By a reducer: the content hash of its sample-weighted mean of `partition` over the sealed contributors. */
export const PartitionReduced = defineEvent("PartitionReduced", 1, Schema.Struct({ merge: Schema.String, partition: Schema.Int, hash: Schema.String }));
/** By the orchestrator: two reducers agree on `hash`. */
export const PartitionAccepted = defineEvent("PartitionAccepted", 1, Schema.Struct({
  merge: Schema.String, partition: Schema.Int, hash: Schema.String, reducers: Schema.Array(Schema.String),
}));
const Claim = Schema.Struct({ reducer: Schema.String, hash: Schema.String });
/** By the orchestrator: the reducers' hashes disagree; `reducer` recomputes the partition. */
export const PartitionDisputed = defineEvent("PartitionDisputed", 1, Schema.Struct({
  merge: Schema.String, partition: Schema.Int, claims: Schema.Array(Claim), reducer: Schema.String,
}));
/** By the orchestrator: reducer `replaces` was lost before reporting; `reducer` takes its place. */
export const PartitionReassigned = defineEvent("PartitionReassigned", 1, Schema.Struct({
  merge: Schema.String, partition: Schema.Int, reducer: Schema.String, replaces: Schema.String,
}));
/** By the orchestrator: a disputed partition was accepted with `hash`; reducers that claimed otherwise are flagged. */
export const DisputeSettled = defineEvent("DisputeSettled", 1, Schema.Struct({
  merge: Schema.String, partition: Schema.Int, hash: Schema.String, flagged: Schema.Array(Schema.String),
}));
/** By the orchestrator: the merge is over; `results[i]` is partition i's accepted hash, or null if skipped. */
export const MergeCompleted = defineEvent("MergeCompleted", 1, Schema.Struct({
  merge: Schema.String, stage: Schema.Int, epoch: Schema.Int,
  results: Schema.Array(Schema.NullOr(Schema.String)), accepted: Schema.Int, skipped: Schema.Int,
}));

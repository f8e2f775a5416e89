// Membership facts: miners join, get a stage, load weights, stay alive, and leave, time out or
// get kicked. Miners record their own; the orchestrator records assignments and removals.
import { Schema } from "effect";
import { defineEvent } from "../registry.js";

/** By a miner: it wants to train. `throughput` is its self-measured speed (only ratios matter). */
export const MinerJoined = defineEvent("MinerJoined", 1, Schema.Struct({ throughput: Schema.Number }));
/** By the orchestrator: a joined miner serves `stage`, starting from `weights` (content ref) of `epoch`. */
export const StageAssigned = defineEvent("StageAssigned", 1, Schema.Struct({
  miner: Schema.String, stage: Schema.Int, weights: Schema.String, epoch: Schema.Int,
}));
/**
 * By a miner: it holds `stage`'s weights `ref` (content hash) as of merge epoch `epoch`. After a
 * merge that overlapped training, `ref` is the merge's consensus (its accepted results, the
 * miner's sent values where skipped); the miner holds that plus what it learned meanwhile.
 */
const WeightsLoadedV1 = Schema.Struct({ stage: Schema.Int, epoch: Schema.Int, ref: Schema.String });
/** v2: with `optimizer`, the content ref of the miner's AdamW state (step count and moments) as of that epoch, which a joiner of the stage restores. */
const WeightsLoadedV2 = Schema.Struct({ ...WeightsLoadedV1.fields, optimizer: Schema.optionalKey(Schema.String) });
/** v1 named no optimizer state: it upcasts unchanged. */
export const WeightsLoadedV1Def = defineEvent("WeightsLoaded", 1, WeightsLoadedV1, (p): typeof WeightsLoadedV2.Type => p);
export const WeightsLoaded = defineEvent("WeightsLoaded", 2, WeightsLoadedV2);
/** By a miner that was silent for heartbeatEveryTicks: alive, with its queue and throughput (routing inputs). */
export const HeartbeatSent = defineEvent("HeartbeatSent", 1, Schema.Struct({ queue: Schema.Int, throughput: Schema.Number }));
/** By the orchestrator: `miner` had no fact for more than heartbeatTimeoutTicks as of `lastSeen`. */
export const MinerTimedOut = defineEvent("MinerTimedOut", 1, Schema.Struct({ miner: Schema.String, lastSeen: Schema.Int }));
/** By the orchestrator: `miner` is removed for good (a flagged reducer, or an operator's kick). */
export const MinerKicked = defineEvent("MinerKicked", 1, Schema.Struct({
  miner: Schema.String, reason: Schema.Literals(["wrong-reduction", "operator"]),
}));
/** By a miner: it leaves gracefully. */
export const MinerLeft = defineEvent("MinerLeft", 1, Schema.Struct({ reason: Schema.String }));

// Pipeline facts: a microbatch is leased to a stage-0 miner, its activations flow down the stages,
// the last stage computes the loss, gradients flow back; the orchestrator completes or reissues it.
import { Schema } from "effect";
import { defineEvent } from "../registry.js";

/** A next-stage candidate as the sender saw it: the input of SWARM's stochastic wiring. */
export const PeerLoad = Schema.Struct({ miner: Schema.String, throughput: Schema.Number, queue: Schema.Int });

/** By the orchestrator: lease (this event's id) of microbatch `microbatch` (dataset batch `batch`) to stage-0 `miner`. */
export const MicrobatchLeased = defineEvent("MicrobatchLeased", 1, Schema.Struct({
  microbatch: Schema.Int, batch: Schema.Int, attempt: Schema.Int, miner: Schema.String, expires: Schema.Int,
}));
/**
 * By the stage-`stage` miner of a lease: compressed activations (`ref`, `bytes` on the wire) sent to
 * `to` at stage + 1, chosen by pickPeer(route, rngFor(seed, "route", lease, stage)).
 */
export const ActivationsForwarded = defineEvent("ActivationsForwarded", 1, Schema.Struct({
  lease: Schema.String, stage: Schema.Int, to: Schema.String, ref: Schema.String, bytes: Schema.Int, route: Schema.Array(PeerLoad),
}));
/** By the last-stage miner of a lease: the microbatch's loss (nats/token) over `tokens` tokens. */
export const LossComputed = defineEvent("LossComputed", 1, Schema.Struct({ lease: Schema.String, loss: Schema.Number, tokens: Schema.Int }));
/** By the stage-`stage` miner (stage >= 1): compressed input-gradients sent upstream to `to`. */
export const GradientsReturned = defineEvent("GradientsReturned", 1, Schema.Struct({
  lease: Schema.String, stage: Schema.Int, to: Schema.String, ref: Schema.String, bytes: Schema.Int,
}));
/** By the stage-`stage` miner: its backward pass for the lease is done (its gradient is accumulated). */
export const BackwardCompleted = defineEvent("BackwardCompleted", 1, Schema.Struct({ lease: Schema.String, stage: Schema.Int }));
/** By a miner: a local optimizer step over `microbatches` accumulated backward passes. */
export const OptimizerStepped = defineEvent("OptimizerStepped", 1, Schema.Struct({ stage: Schema.Int, step: Schema.Int, microbatches: Schema.Int }));
/** By the orchestrator: the lease finished; `pathway[s]` is the miner of stage s. CLASP's input. */
export const MicrobatchCompleted = defineEvent("MicrobatchCompleted", 1, Schema.Struct({
  lease: Schema.String, microbatch: Schema.Int, batch: Schema.Int, pathway: Schema.Array(Schema.String), loss: Schema.Number, tokens: Schema.Int,
}));
/** By the orchestrator: the lease is void (expired, or a miner on its path was lost); the microbatch goes back in the queue. */
export const MicrobatchReissued = defineEvent("MicrobatchReissued", 1, Schema.Struct({
  lease: Schema.String, microbatch: Schema.Int, reason: Schema.Literals(["expired", "miner-lost"]), miner: Schema.NullOr(Schema.String),
}));

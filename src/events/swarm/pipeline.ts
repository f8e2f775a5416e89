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
const ActivationsForwardedV1 = Schema.Struct({
  lease: Schema.String, stage: Schema.Int, to: Schema.String, ref: Schema.String, bytes: Schema.Int, route: Schema.Array(PeerLoad),
});
/**
 * The content hash of the weights a forward ran with (the miner's parameter-set version, which it
 * keeps for a while and opens when a validator spot-checks the lease), or null when unknown: facts
 * recorded before v2, or a version the miner's kernels could not name.
 */
const WeightsVersion = Schema.NullOr(Schema.String);
/** v2: with `weights`, the version of the weights the forward ran with, so a validator can re-run it. */
const ActivationsForwardedV2 = Schema.Struct({ ...ActivationsForwardedV1.fields, weights: WeightsVersion });
export const ActivationsForwardedV1Def = defineEvent("ActivationsForwarded", 1, ActivationsForwardedV1, (p): typeof ActivationsForwardedV2.Type => ({ ...p, weights: null }));
export const ActivationsForwarded = defineEvent("ActivationsForwarded", 2, ActivationsForwardedV2);
/** By the last-stage miner of a lease: the microbatch's loss (nats/token) over `tokens` tokens. */
const LossComputedV1 = Schema.Struct({ lease: Schema.String, loss: Schema.Number, tokens: Schema.Int });
/** v2: with `weights`, the version of the weights the last stage's forward and backward ran with. */
const LossComputedV2 = Schema.Struct({ ...LossComputedV1.fields, weights: WeightsVersion });
export const LossComputedV1Def = defineEvent("LossComputed", 1, LossComputedV1, (p): typeof LossComputedV2.Type => ({ ...p, weights: null }));
export const LossComputed = defineEvent("LossComputed", 2, LossComputedV2);
/** By the stage-`stage` miner (stage >= 1): compressed input-gradients sent upstream to `to`. */
export const GradientsReturned = defineEvent("GradientsReturned", 1, Schema.Struct({
  lease: Schema.String, stage: Schema.Int, to: Schema.String, ref: Schema.String, bytes: Schema.Int,
}));
/** By the stage-`stage` miner: its backward pass for the lease is done (its gradient is accumulated). */
export const BackwardCompleted = defineEvent("BackwardCompleted", 1, Schema.Struct({ lease: Schema.String, stage: Schema.Int }));
/** By a miner: a local optimizer step over `microbatches` accumulated backward passes. */
const OptimizerSteppedV1 = Schema.Struct({ stage: Schema.Int, step: Schema.Int, microbatches: Schema.Int });
/**
 * v2: the step as the worker decided it: the `leases` whose backward passes it averaged (in the
 * order they completed) and the learning rate `lr` (null in v1 facts: the host chose it then and
 * recorded nothing). `microbatches` = leases.length in v2.
 */
const OptimizerSteppedV2 = Schema.Struct({ ...OptimizerSteppedV1.fields, leases: Schema.Array(Schema.String), lr: Schema.NullOr(Schema.Number) });
export const OptimizerSteppedV1Def = defineEvent("OptimizerStepped", 1, OptimizerSteppedV1, (p): typeof OptimizerSteppedV2.Type => ({ ...p, leases: [], lr: null }));
export const OptimizerStepped = defineEvent("OptimizerStepped", 2, OptimizerSteppedV2);
/** By the orchestrator: the lease finished; `pathway[s]` is the miner of stage s. CLASP's input. */
export const MicrobatchCompleted = defineEvent("MicrobatchCompleted", 1, Schema.Struct({
  lease: Schema.String, microbatch: Schema.Int, batch: Schema.Int, pathway: Schema.Array(Schema.String), loss: Schema.Number, tokens: Schema.Int,
}));
/** By the orchestrator: the lease is void (expired, or a miner on its path was lost); the microbatch goes back in the queue. */
export const MicrobatchReissued = defineEvent("MicrobatchReissued", 1, Schema.Struct({
  lease: Schema.String, microbatch: Schema.Int, reason: Schema.Literals(["expired", "miner-lost"]), miner: Schema.NullOr(Schema.String),
}));

// Scoring facts (DESIGN "CLASP"): a validator states how it scores a run, draws spot checks from a
// beacon the miners could not know when they worked, records each check's verdict, and per scoring
// window publishes every miner's contribution, its flags and the payout weights it proposes.
import { Schema } from "effect";
import { defineEvent } from "../registry.js";

/** A hotkey and its uid on the subnet: one row of the metagraph snapshot a validator pays by. */
export const Neuron = Schema.Struct({ hotkey: Schema.String, uid: Schema.Int });
export type Neuron = typeof Neuron.Type;

/**
 * By a validator, its first fact: the settings every decision it records derives from, so an auditor
 * folding the log re-derives its draws, scores, flags and weights bit for bit.
 */
export const ScoringStarted = defineEvent("ScoringStarted", 1, Schema.Struct({
  /** A scoring window closes every `window` completed microbatches, and at RunCompleted. */
  window: Schema.Int,
  /** CLASP: flag a miner whose contribution's upper confidence bound is below −delta (loss units). */
  delta: Schema.Number,
  /** CLASP: two-sided confidence level of the intervals. */
  confidence: Schema.Number,
  /** CLASP: cluster-bootstrap replicates. */
  bootstrap: Schema.Int,
  /** CLASP: a miner with fewer microbatches in a window is never flagged by its contribution alone (absent: 10). */
  minSamples: Schema.optionalKey(Schema.Int),
  /** Pipeline work (forward, loss or backward of a lease) spot-checked per miner per window. */
  spotPerMiner: Schema.Int,
  /** Share of the window's accepted merge partitions whose reduction is recomputed (at least one per reducer). */
  reduceRate: Schema.Number,
  /** Share of every window's payout burnt to the subnet owner's uid (0 = none). */
  burn: Schema.Number,
  /** The owner's hotkey that receives the burn, or null. */
  owner: Schema.NullOr(Schema.String),
  /** Hotkey → uid: who can be paid (a miner missing here earns nothing). */
  metagraph: Schema.Array(Neuron),
}));

/** What one spot check re-executes. `subject` is a lease id (forward, loss, backward) or a merge id (reduce). */
export const SpotTarget = Schema.Struct({
  miner: Schema.String,
  kind: Schema.Literals(["forward", "loss", "backward", "reduce"]),
  stage: Schema.Int,
  subject: Schema.String,
  /** The partition of a reduce check, else null. */
  partition: Schema.NullOr(Schema.Int),
  /** The weights version the work claims to have run with (forward, loss, backward), else null. */
  weights: Schema.NullOr(Schema.String),
});
export type SpotTarget = typeof SpotTarget.Type;

/**
 * By a validator when window `window` closed: the checks drawn with rngFor(seed, "spot", validator,
 * window, beacon), where `beacon` is the hash of the fact that closed the window (a chain head no
 * miner could know while it worked).
 */
export const SpotChecksDrawn = defineEvent("SpotChecksDrawn", 1, Schema.Struct({
  window: Schema.Int, beacon: Schema.String, checks: Schema.Array(SpotTarget),
}));

const Verdict = Schema.Struct({
  window: Schema.Int,
  /** Index of the check in its window's SpotChecksDrawn. */
  check: Schema.Int,
  miner: Schema.String,
  /** Distance between the claimed and the recomputed result (0 = identical; see the validator's tolerance per kind). */
  distance: Schema.Number,
  detail: Schema.String,
});
/** By a validator: the re-executed work matches what the miner claimed. */
export const SpotCheckPassed = defineEvent("SpotCheckPassed", 1, Verdict);
/** By a validator: it does not (or the miner could not produce what the check needs). */
export const SpotCheckFailed = defineEvent("SpotCheckFailed", 1, Verdict);

/** By a miner: the weights version `weights` a spot check asked for is in the run's blob stream now. */
export const WeightsOpened = defineEvent("WeightsOpened", 1, Schema.Struct({ weights: Schema.String, check: Schema.String }));

/** By a validator: a miner's CLASP contribution in a window (loss units; positive lowers the loss) with its confidence interval. */
export const ContributionScored = defineEvent("ContributionScored", 1, Schema.Struct({
  window: Schema.Int, miner: Schema.String, stage: Schema.Int, contribution: Schema.Number, lo: Schema.Number, hi: Schema.Number, samples: Schema.Int,
}));

/** By a validator: a miner earns nothing this window, and why. */
export const MinerFlagged = defineEvent("MinerFlagged", 1, Schema.Struct({
  window: Schema.Int, miner: Schema.String, reason: Schema.Literals(["harmful", "outlier", "spot-check", "wrong-reduction"]), detail: Schema.String,
}));

const Payout = Schema.Struct({ hotkey: Schema.String, uid: Schema.Int, share: Schema.Number, weight: Schema.Int });
/**
 * By a validator: the window's payout, one entry per paid uid in uid order: `share` the normalised
 * share (sums to 1), `weight` the u16 subtensor takes (max-upscaled to 65535).
 */
export const WeightsProposed = defineEvent("WeightsProposed", 1, Schema.Struct({ window: Schema.Int, entries: Schema.Array(Payout) }));

/**
 * By a validator: the chain took its weights for window `window` on subnet `netuid`: extrinsic
 * `extrinsic` (its hash) in block `block` (`blockHash`), a `set_weights`, a `commit_weights` (the
 * vector hidden behind `commitHash` until its reveal) or a `reveal_weights` of an earlier commit.
 * An auditor matches it with the window's WeightsProposed and with the chain.
 */
export const WeightsSubmitted = defineEvent("WeightsSubmitted", 1, Schema.Struct({
  window: Schema.Int,
  netuid: Schema.Int,
  call: Schema.Literals(["set_weights", "commit_weights", "reveal_weights"]),
  extrinsic: Schema.String,
  block: Schema.Int,
  blockHash: Schema.String,
  uids: Schema.Array(Schema.Int),
  values: Schema.Array(Schema.Int),
  versionKey: Schema.Number,
  commitHash: Schema.NullOr(Schema.String),
}));

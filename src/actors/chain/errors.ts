// The chain adapter's expected failures as tagged errors, each with a message a validator can act
// on. A refusal found before sending (a hyperparameter the vector breaks) and the same refusal
// returned by the chain map to the same error, with `sent` telling which one it was.
import { Schema } from "effect";

/** The node could not be reached, timed out, or speaks a runtime this adapter does not know. */
export class ChainUnavailable extends Schema.TaggedError<ChainUnavailable>()("ChainUnavailable", {
  message: Schema.String,
}) {}

/** The subnet `netuid` does not exist on this chain. */
export class UnknownNetuid extends Schema.TaggedError<UnknownNetuid>()("UnknownNetuid", {
  netuid: Schema.Number, sent: Schema.Boolean, message: Schema.String,
}) {}

/** A hotkey (the validator's own, or a payee's) is not registered on the subnet. */
export class HotkeyNotRegistered extends Schema.TaggedError<HotkeyNotRegistered>()("HotkeyNotRegistered", {
  hotkey: Schema.String, netuid: Schema.Number, sent: Schema.Boolean, message: Schema.String,
}) {}

/** The weight vector breaks a rule of the subnet (length, max weight, version key, permit, a uid that moved). */
export class WeightsInvalid extends Schema.TaggedError<WeightsInvalid>()("WeightsInvalid", {
  rule: Schema.Literals(["length", "min-allowed-weights", "max-weight-limit", "version-key", "duplicate-uids", "unknown-uid", "validator-permit", "metagraph-changed", "empty"]),
  sent: Schema.Boolean,
  message: Schema.String,
}) {}

/** Weights were set (or committed) less than `weights_set_rate_limit` blocks ago. */
export class WeightsRateLimited extends Schema.TaggedError<WeightsRateLimited>()("WeightsRateLimited", {
  netuid: Schema.Number, sent: Schema.Boolean, message: Schema.String,
}) {}

/** The path taken does not match the subnet's commit-reveal setting (set_weights on a commit-reveal subnet, or the reverse). */
export class CommitRevealMismatch extends Schema.TaggedError<CommitRevealMismatch>()("CommitRevealMismatch", {
  netuid: Schema.Number, enabled: Schema.Boolean, sent: Schema.Boolean, message: Schema.String,
}) {}

/** A reveal that cannot happen (no commit, too early, expired, hash mismatch, no journal entry). */
export class RevealRefused extends Schema.TaggedError<RevealRefused>()("RevealRefused", {
  reason: Schema.Literals(["no-journal-entry", "no-commit", "too-early", "expired", "hash-mismatch"]),
  sent: Schema.Boolean,
  message: Schema.String,
}) {}

/** The transaction pool refused the extrinsic's signature (a wrong key, genesis, spec or era). */
export class BadSignature extends Schema.TaggedError<BadSignature>()("BadSignature", {
  message: Schema.String,
}) {}

/** Any other dispatch error or pool refusal, named as the runtime names it. */
export class ChainRejected extends Schema.TaggedError<ChainRejected>()("ChainRejected", {
  error: Schema.String, message: Schema.String,
}) {}

/** After a successful extrinsic, the chain's storage does not hold what was sent. */
export class WeightsNotHeld extends Schema.TaggedError<WeightsNotHeld>()("WeightsNotHeld", {
  netuid: Schema.Number, message: Schema.String,
}) {}

/**
 * A commitment (an anchored log head) the Commitments pallet refuses: one was set less than its
 * rate limit ago, or the signer is not the anchor's orchestrator (whose commitment a verifier reads).
 */
export class CommitmentRefused extends Schema.TaggedError<CommitmentRefused>()("CommitmentRefused", {
  reason: Schema.Literals(["rate-limited", "wrong-signer"]), netuid: Schema.Number, sent: Schema.Boolean, message: Schema.String,
}) {}

export type ChainError =
  | ChainUnavailable | UnknownNetuid | HotkeyNotRegistered | WeightsInvalid | WeightsRateLimited
  | CommitRevealMismatch | RevealRefused | BadSignature | ChainRejected | WeightsNotHeld | CommitmentRefused;

/** True for every error of this module: the CLI maps them to exit 1 with their message. */
export const isChainError = (e: unknown): e is ChainError =>
  e instanceof ChainUnavailable || e instanceof UnknownNetuid || e instanceof HotkeyNotRegistered || e instanceof WeightsInvalid
  || e instanceof WeightsRateLimited || e instanceof CommitRevealMismatch || e instanceof RevealRefused || e instanceof BadSignature
  || e instanceof ChainRejected || e instanceof WeightsNotHeld || e instanceof CommitmentRefused;

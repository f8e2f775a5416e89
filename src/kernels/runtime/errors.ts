// Typed failures of the kernel runtime: a wrong feed, a missing input, an ORT failure, a dead
// worker. Schema-backed tagged errors, so Effect code can match on `_tag` and retry.
import { Schema } from "effect";

/** Why a kernel call failed; `reason` is a stable code, `message` the human detail. */
export class KernelFailed extends Schema.TaggedError<KernelFailed>()("KernelFailed", {
  reason: Schema.Literals(["unknown-input", "missing-input", "unknown-output", "bad-tensor", "ort", "worker", "released", "unknown-model", "unknown-stash"]),
  message: Schema.String,
}) {}

/** Builds a KernelFailed; a small helper so call sites stay one line. */
export const kernelFailed = (reason: KernelFailed["reason"], message: string): KernelFailed =>
  new KernelFailed({ reason, message });

// What a spot check re-runs from: the log's record of the checked work (inputs, claimed outputs,
// the weights version it named) or of the checked reduction. Hosts fetch the bytes these refs name
// and re-execute; the pure simulator's fake compute does the same with its fake tensors.
import type { SpotTarget } from "../../events/swarm/index.js";
import type { AcceptedPartition, ScorerState } from "./state.js";

export type WorkEvidence =
  /** A non-final stage's forward: `input` (null at stage 0: dataset batch `batch`) through `weights` should give `out`. */
  | { readonly kind: "forward"; readonly target: SpotTarget; readonly lease: string; readonly batch: number; readonly input: string | null; readonly weights: string | null; readonly out: string | null }
  /** The final stage: `input` through `weights` on batch `batch`'s targets should give `loss`, and input-gradients `gradOut`. */
  | { readonly kind: "loss"; readonly target: SpotTarget; readonly lease: string; readonly batch: number; readonly input: string | null; readonly weights: string | null; readonly loss: number | null; readonly gradOut: string | null }
  /** A middle stage's backward: the forward of `input` through `weights`, then the downstream gradient `gradIn`, should give `gradOut`. */
  | { readonly kind: "backward"; readonly target: SpotTarget; readonly lease: string; readonly batch: number; readonly input: string | null; readonly weights: string | null; readonly gradIn: string | null; readonly gradOut: string | null }
  /** A reduction: the task re-run should give the accepted hash. */
  | { readonly kind: "reduce"; readonly target: SpotTarget; readonly accepted: AcceptedPartition }
  /** The log no longer holds what the check needs (it was pruned or never recorded). */
  | { readonly kind: "missing"; readonly target: SpotTarget; readonly reason: string };

/** The evidence of check `check` of window `window`. */
export const evidenceOf = (s: ScorerState, window: number, check: number): WorkEvidence | undefined => {
  const w = s.windows[window];
  const t = w?.checks?.[check];
  if (w === undefined || t === undefined) return undefined;
  if (t.kind === "reduce") {
    const a = w.accepted.find((p) => p.merge === t.subject && p.partition === t.partition);
    return a === undefined ? { kind: "missing", target: t, reason: "the accepted partition is not in the window" } : { kind: "reduce", target: t, accepted: a };
  }
  const l = s.leases[t.subject];
  const st = l?.stages[t.stage];
  if (l === undefined || st === null || st === undefined) return { kind: "missing", target: t, reason: `no record of lease ${t.subject} at stage ${t.stage}` };
  const input = t.stage === 0 ? null : l.stages[t.stage - 1]?.out ?? null;
  const common = { target: t, lease: l.id, batch: l.batch, input, weights: st.weights };
  switch (t.kind) {
    case "forward": return { kind: "forward", ...common, out: st.out };
    case "loss": return { kind: "loss", ...common, loss: st.loss, gradOut: st.gradOut };
    case "backward": return { kind: "backward", ...common, gradIn: l.stages[t.stage + 1]?.gradOut ?? null, gradOut: st.gradOut };
  }
};

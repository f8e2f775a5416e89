// What a decision rule proposes: one fact the orchestrator should record now, with the specific
// facts it answers. The decider adds id, version, step and the basis cause.
import type { SwarmEventType, SwarmPayloads, SwarmRunConfig } from "../../../events/swarm/index.js";
import type { OrchestratorState } from "../state.js";

export type Proposal = {
  [T in SwarmEventType]: { readonly type: T; readonly payload: SwarmPayloads[T]; readonly cause: readonly string[] };
}[SwarmEventType];

/** Inputs a rule may read besides the state: the config and the id its decision will carry (its seed key). */
export interface RuleContext {
  readonly config: SwarmRunConfig;
  readonly nextId: string;
}

/** A level-triggered rule: what the state calls for now, or undefined. Pure. */
export type Rule = (s: OrchestratorState, ctx: RuleContext) => Proposal | undefined;

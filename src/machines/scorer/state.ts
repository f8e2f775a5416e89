// The scorer's state: everything a validator decides by, as plain data, and only ever the fold of
// the run's log (evolve.ts) beside the orchestrator's view: the pathway losses of each scoring
// window, the evidence a spot check needs (which weights, inputs and outputs a miner's work
// named), the merges' accepted partitions, and its own draws, verdicts and scores.
import type { SpotTarget, SwarmPayloads, SwarmRunConfig } from "../../events/swarm/index.js";
import type { ReduceTask } from "../worker/index.js";
import type { PathwaySample } from "./clasp.js";

export type ScoringSettings = SwarmPayloads["ScoringStarted"];

/** One stage's part in a lease, as the log recorded it. */
export interface StageWork {
  readonly miner: string;
  /** Activations it forwarded (non-final stage): their content ref, and the weights version the forward named. */
  readonly out: string | null;
  readonly weights: string | null;
  /** The loss it computed (final stage). */
  readonly loss: number | null;
  /** Input-gradients it returned upstream (stage >= 1). */
  readonly gradOut: string | null;
}

/** A lease's work per stage, kept until its window's checks are drawn. */
export interface LeaseWork {
  readonly id: string;
  readonly batch: number;
  readonly stages: readonly (StageWork | null)[];
}

/** An accepted partition, with what its reduction re-runs from. */
export interface AcceptedPartition {
  readonly merge: string;
  readonly stage: number;
  readonly partition: number;
  readonly hash: string;
  /** Reducers whose claims equal the accepted hash. */
  readonly reducers: readonly string[];
  readonly task: ReduceTask | null;
}

export interface Verdict {
  readonly passed: boolean;
  readonly distance: number;
  readonly id: string;
}

export interface WindowState {
  readonly index: number;
  /** Pathway losses of the microbatches completed in this window, in log order. */
  readonly samples: readonly PathwaySample[];
  /** Leases completed in this window (their work is the spot-check population). */
  readonly leases: readonly string[];
  readonly accepted: readonly AcceptedPartition[];
  /** Reducers the merge cross-check caught (DisputeSettled.flagged), with the partition. */
  readonly wrongReducers: readonly { readonly miner: string; readonly detail: string }[];
  /** Id and hash of the fact that closed the window, once closed. */
  readonly closedBy: { readonly id: string; readonly beacon: string } | null;
  /** This validator's draw, once recorded. */
  readonly checks: readonly SpotTarget[] | null;
  readonly drawId: string | null;
  readonly verdicts: Readonly<Record<number, Verdict>>;
  readonly scored: boolean;
}

export interface ScorerState {
  /** The validator whose decisions these are. */
  readonly me: string;
  readonly config: SwarmRunConfig | null;
  readonly settings: ScoringSettings | null;
  /** Id of the last fact folded: the basis of the next decisions. */
  readonly lastId: string | null;
  readonly seqs: Readonly<Record<string, number>>;
  /** Microbatches completed so far (windows close on multiples of settings.window). */
  readonly completed: number;
  readonly windows: readonly WindowState[];
  /** Work of leases not yet drawn over (open ones, and completed ones of undrawn windows). */
  readonly leases: Readonly<Record<string, LeaseWork>>;
  /**
   * Miners this validator caught cheating (a failed spot check, a wrong reduction): hard evidence,
   * unlike a statistical flag, so they stay flagged, and unpaid, in every later window they serve in.
   */
  readonly caught: Readonly<Record<string, { readonly window: number; readonly reason: SwarmPayloads["MinerFlagged"]["reason"]; readonly detail: string }>>;
  readonly done: boolean;
}

export const initialScorerState = (me: string): ScorerState => ({
  me, config: null, settings: null, lastId: null, seqs: {}, completed: 0, windows: [], leases: {}, caught: {}, done: false,
});

export const emptyWindow = (index: number): WindowState => ({
  index, samples: [], leases: [], accepted: [], wrongReducers: [], closedBy: null, checks: null, drawId: null, verdicts: {}, scored: false,
});

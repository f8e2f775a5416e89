// What time travel shows: a run's state at one point of its log, as plain JSON-able data. Every
// field is a fold of the log prefix (the orchestrator's and validators' deciders, and the stage
// workers' XState machine fed as their hosts fed it); nothing is read from a clock or guessed.
import type { SwarmPayloads } from "../../events/swarm/index.js";
import type { Counters, MinerStatus, Participant, Retry, StageState } from "../orchestrator/index.js";

/** A point of the log: after the entry with stream sequence `seq`, or at the end of logical step (clock tick) `step`. */
export type At = { readonly seq: number } | { readonly step: number };

/** Why a point cannot be shown. */
export type ReplayError =
  /** `at` lies beyond the log: `last` is the log's last seq (or last step). */
  | { readonly _tag: "PastTheEnd"; readonly at: At; readonly last: number }
  /** `at` is not a non-negative integer. */
  | { readonly _tag: "BadPosition"; readonly at: At }
  /** An event whose payload does not decode at its version: the log is not one this build can fold. */
  | { readonly _tag: "Undecodable"; readonly seq: number; readonly id: string; readonly type: string; readonly reason: string };

/** Where a snapshot stands in the log. */
export interface Position {
  /** Stream sequence of the last entry folded; 0 before the first. */
  readonly seq: number;
  /** Entries folded (event lines; a log's certificates count, refused lines do not), of `total`. */
  readonly entries: number;
  readonly total: number;
  /** Swarm facts folded (certificates are entries but not facts). */
  readonly facts: number;
  /** The orchestrator's logical step (its clock tick) at this point. */
  readonly step: number;
  /** The last swarm fact folded. */
  readonly last: { readonly seq: number; readonly id: string; readonly type: string; readonly actor: string } | null;
}

/** A stage as the orchestrator holds it (StageState's fields, see there), with its number and live miners. */
export interface StageSnapshot extends Pick<StageState, "phase" | "epoch" | "sinceMerge" | "merge" | "weights" | "weightsEpoch" | "optimizer"> {
  readonly stage: number;
  /** Live miners (joined, assigned or active) the orchestrator has on this stage, in id order. */
  readonly miners: readonly string[];
}

export interface MinerSnapshot {
  readonly status: MinerStatus;
  readonly stage: number | null;
  readonly queue: number;
  /** Backward passes since its last merge participation. */
  readonly samples: number;
  readonly flagged: boolean;
  /** Tick of its latest fact. */
  readonly lastSeen: number;
  readonly throughput: number;
}

export interface LeaseSnapshot {
  readonly microbatch: number;
  readonly batch: number;
  readonly attempt: number;
  readonly expires: number;
  /** pathway[s]: the miner holding the lease at stage s, null until forwarded there. */
  readonly pathway: readonly (string | null)[];
  readonly loss: number | null;
  /** backward[s]: stage s's backward pass is in the log. */
  readonly backward: readonly boolean[];
}

export interface PartitionSnapshot {
  /** Assigned reducers, then any that replaced a lost one or settle a dispute. */
  readonly reducers: readonly string[];
  /** Claimed result hash by reducer. */
  readonly claims: Readonly<Record<string, string>>;
  /** Reducers lost before they claimed, replaced by a PartitionReassigned. */
  readonly replaced: readonly string[];
  readonly status: "open" | "accepted";
  readonly hash: string | null;
  readonly disputed: boolean;
  readonly settled: boolean;
}

export interface MergeSnapshot {
  readonly stage: number;
  readonly epoch: number;
  readonly participants: readonly Participant[];
  /** Participants whose PartitionsSent is in the log. */
  readonly sent: readonly string[];
  /** The contributor set every reducer averages over, once sealed. */
  readonly sealed: readonly Participant[] | null;
  readonly gatherDeadline: number;
  readonly deadline: number;
  readonly partitions: readonly PartitionSnapshot[];
}

/** The orchestrator's state: its decider's fold of the prefix, keyed by id so snapshots diff by name. */
export interface OrchestratorSnapshot {
  readonly id: string;
  readonly tick: number;
  readonly done: boolean;
  readonly counters: Counters;
  readonly nextMicrobatch: number;
  readonly stages: readonly StageSnapshot[];
  readonly miners: Readonly<Record<string, MinerSnapshot>>;
  /** Open leases. */
  readonly leases: Readonly<Record<string, LeaseSnapshot>>;
  /** Microbatches whose lease was reissued and that wait for a new one, in queue order. */
  readonly retry: readonly Retry[];
  /** Open merges. */
  readonly merges: Readonly<Record<string, MergeSnapshot>>;
}

/** The machine's state value as XState reports it: "training", or { merging: "exchanging" }. */
export type StateValue = string | { readonly [state: string]: StateValue };

/** A stage worker's machine, rebuilt by running `workerMachine` over what its host fed it (see worker.ts). */
export interface WorkerMachineSnapshot {
  readonly miner: string;
  readonly reconstructed: true;
  /** The session (process start) whose machine this is: the one of the miner's latest MinerJoined. */
  readonly session: string;
  /** Sessions the miner started so far (a restart joins again). */
  readonly sessions: number;
  /** Seq of this session's MinerJoined. */
  readonly joinedAt: number;
  readonly state: StateValue;
  /** "done" once the machine reached `gone` (removed, or it left). */
  readonly status: "active" | "done";
  readonly stage: number | null;
  /** The clock tick the machine last saw. */
  readonly tick: number;
  /** False until its own MinerJoined came back through the log (it acts on nothing before). */
  readonly listening: boolean;
  /** Optimizer steps it decided in this session. */
  readonly steps: number;
  /**
   * Optimizer steps of its AdamW state, or null when it took over a stored state: the log names
   * the state but not its step count (its host reads that from the blob), so it is unknown here.
   */
  readonly optimizerSteps: number | null;
  readonly merge: string | null;
  /** A merge that started while it was still loading the previous one's result. */
  readonly nextMerge: string | null;
  /** Compute requests outstanding, by the machine's own count. */
  readonly pending: number;
  /** Work held while its stage merges. */
  readonly held: number;
  /** Leases it forwarded whose backward has not run yet. */
  readonly awaiting: readonly string[];
  /** Leases whose backward passes are summed for its next optimizer step. */
  readonly accumulated: readonly string[];
  /** Facts it published, by its own count (this session). */
  readonly published: number;
  /** Facts of this session in the log so far. */
  readonly logged: number;
  readonly lastFact: { readonly seq: number; readonly step: number; readonly type: string } | null;
  /** Work it asked its host for that no fact of the log answers yet, by effect. */
  readonly requested: Readonly<Record<string, number>>;
  /** Facts it decided that are not in the log by this point (a batch being appended, or a host that died), by type. */
  readonly unlogged: Readonly<Record<string, number>>;
  /**
   * Where the rebuilt machine and the log disagree, by type: own facts no decision of the rebuilt
   * machine explains (`unmatched`: the machine then takes the log's record), and facts it decided
   * that the log passed over (`skipped`). Both come from when a result or a fact reached the host,
   * which the log does not record; heartbeats, which depend on nothing else, are not counted.
   */
  readonly divergence: { readonly unmatched: Readonly<Record<string, number>>; readonly skipped: Readonly<Record<string, number>> };
}

/** A miner whose machine cannot be rebuilt, and why (its state is then only the orchestrator's view). */
export interface WorkerUnknown {
  readonly miner: string;
  readonly reconstructed: false;
  readonly reason: string;
}

export type WorkerSnapshot = WorkerMachineSnapshot | WorkerUnknown;

export interface WindowSnapshot {
  readonly index: number;
  /** Microbatches completed in the window so far. */
  readonly samples: number;
  readonly closed: boolean;
  /** Spot checks drawn, once drawn. */
  readonly checks: number | null;
  readonly passed: number;
  readonly failed: number;
  readonly scored: boolean;
}

/** One validator's scoring, from its ScoringStarted on: its fold and the decisions it recorded. */
export interface ValidatorSnapshot {
  readonly validator: string;
  /** Completed microbatches per scoring window. */
  readonly window: number;
  readonly completed: number;
  readonly windows: readonly WindowSnapshot[];
  readonly contributions: readonly SwarmPayloads["ContributionScored"][];
  readonly flags: readonly SwarmPayloads["MinerFlagged"][];
  readonly weights: readonly SwarmPayloads["WeightsProposed"][];
  /** Miners it caught cheating (they stay flagged). */
  readonly caught: Readonly<Record<string, { readonly window: number; readonly reason: string }>>;
}

/** A run at one point of its log. */
export interface RunSnapshot {
  readonly run: string;
  readonly position: Position;
  /** Null before the run's SwarmRunStarted. */
  readonly orchestrator: OrchestratorSnapshot | null;
  /** Every miner that joined by this point, by id. */
  readonly workers: Readonly<Record<string, WorkerSnapshot>>;
  /** Validators that started scoring by this point, by id. */
  readonly scores: Readonly<Record<string, ValidatorSnapshot>>;
}

// The orchestrator's state: everything it decides by, as plain JSON-able data. It is only ever the
// fold of the run's log (`evolve`), so a crashed orchestrator, an auditor and the time-travel
// debugger all rebuild it the same way.
import type { SwarmRunConfig } from "../../events/swarm/index.js";

export type MinerStatus = "joined" | "assigned" | "active" | "gone" | "kicked";

export interface MinerState {
  readonly id: string;
  readonly status: MinerStatus;
  readonly stage: number | null;
  /** Registration order: joined miners are assigned in this order. */
  readonly joinOrder: number;
  /** Tick of the miner's latest fact: liveness is "any fact", HeartbeatSent when idle. */
  readonly lastSeen: number;
  readonly throughput: number;
  readonly queue: number;
  /** Backward passes since the miner's last merge participation (merge eligibility, weights). */
  readonly samples: number;
  /** Flagged by a dispute: to be kicked. */
  readonly flagged: boolean;
}

export interface StageState {
  readonly phase: "training" | "merging";
  /** Merges completed by this stage. */
  readonly epoch: number;
  /** Backward passes at this stage since its last merge started. */
  readonly sinceMerge: number;
  readonly merge: string | null;
  /** The freshest full weights of the stage any miner reported (what a joiner loads). */
  readonly weights: string;
  readonly weightsEpoch: number;
  /** The freshest AdamW state of the stage a miner stored (a joiner restores it), and its epoch; null before any. */
  readonly optimizer: string | null;
  readonly optimizerEpoch: number;
  /**
   * Per partition, the latest accepted merge result of this stage (missing or null: none yet).
   * Under an outer step (DiLoCo) it holds the partition's parameters and momentum after that
   * merge: the anchor the next merge's reducers step from.
   */
  readonly results: readonly (string | null)[];
}

export interface LeaseState {
  readonly id: string;
  readonly microbatch: number;
  readonly batch: number;
  readonly attempt: number;
  readonly expires: number;
  /** pathway[s]: the miner holding the microbatch at stage s, null until forwarded there. */
  readonly pathway: readonly (string | null)[];
  readonly loss: number | null;
  readonly tokens: number;
  readonly lossId: string | null;
  /** backward[s]: id of stage s's BackwardCompleted, null until then. */
  readonly backward: readonly (string | null)[];
}

export interface PartitionState {
  /** Reducers in the order they were assigned (the planned two, then extra ones). */
  readonly reducers: readonly string[];
  /** Claimed result hash by reducer, and the id of each claim. */
  readonly claims: Readonly<Record<string, string>>;
  readonly claimIds: readonly string[];
  /** Lost reducers already replaced by a PartitionReassigned. */
  readonly replaced: readonly string[];
  readonly status: "open" | "accepted";
  readonly hash: string | null;
  readonly disputed: boolean;
  readonly settled: boolean;
}

export interface Participant {
  readonly miner: string;
  readonly samples: number;
}

export interface MergeState {
  readonly id: string;
  readonly stage: number;
  readonly epoch: number;
  readonly participants: readonly Participant[];
  /** Partition content refs each participant reported sending. */
  readonly sent: Readonly<Record<string, readonly string[]>>;
  readonly sentIds: readonly string[];
  readonly sealed: readonly Participant[] | null;
  readonly partitions: readonly PartitionState[];
  readonly gatherDeadline: number;
  readonly deadline: number;
}

/** A microbatch waiting for a (new) lease after its previous one was reissued. */
export interface Retry {
  readonly microbatch: number;
  readonly batch: number;
  readonly attempt: number;
}

export interface Counters {
  /** Distinct microbatches ever leased. */
  readonly issued: number;
  readonly completed: number;
  readonly reissued: number;
  readonly tokens: number;
  readonly mergesDone: number;
  readonly partitionsAccepted: number;
  readonly partitionsSkipped: number;
  readonly disputes: number;
  readonly kicked: number;
  readonly timedOut: number;
}

export interface OrchestratorState {
  readonly config: SwarmRunConfig | null;
  readonly tick: number;
  /** Id of the last fact folded: the basis (cause[0]) of the next decisions. */
  readonly lastId: string | null;
  /** Facts folded so far (redeliveries excluded): a monotone position, so readers can tell views apart. */
  readonly folded: number;
  /** Highest actor-local seq folded per actor: redelivered facts (seq <= this) change nothing. */
  readonly seqs: Readonly<Record<string, number>>;
  readonly joins: number;
  readonly miners: Readonly<Record<string, MinerState>>;
  readonly stages: readonly StageState[];
  /** Open leases only; closed ones leave the state (counted in `counters`). */
  readonly leases: Readonly<Record<string, LeaseState>>;
  readonly retry: readonly Retry[];
  readonly nextMicrobatch: number;
  /** Open merges only. */
  readonly merges: Readonly<Record<string, MergeState>>;
  readonly counters: Counters;
  readonly done: boolean;
}

const zero: Counters = {
  issued: 0, completed: 0, reissued: 0, tokens: 0, mergesDone: 0, partitionsAccepted: 0, partitionsSkipped: 0,
  disputes: 0, kicked: 0, timedOut: 0,
};

/** The state before any fact. */
export const initialState = (): OrchestratorState => ({
  config: null, tick: 0, lastId: null, folded: 0, seqs: {}, joins: 0, miners: {}, stages: [], leases: {}, retry: [],
  nextMicrobatch: 0, merges: {}, counters: zero, done: false,
});

/** Miners that count as present (not timed out, left or kicked). */
export const isLive = (m: MinerState): boolean => m.status === "joined" || m.status === "assigned" || m.status === "active";

/** Active miners of a stage (weights loaded), in id order. */
export const stageMiners = (s: OrchestratorState, stage: number): MinerState[] =>
  Object.values(s.miners)
    .filter((m) => m.status === "active" && m.stage === stage)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

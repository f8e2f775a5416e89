// Swarm run configuration and the run-level facts: the run's start (model, stages, seed, schedule
// constants), the logical clock, and the run's completion. Recorded by the orchestrator.
import { Schema } from "effect";
import { defineEvent } from "../registry.js";

const Count = Schema.Int;

/** Schedule constants of v1 and v2 runs. */
export const ScheduleV1 = Schema.Struct({
  /** Microbatches the run trains on in total. */
  totalMicrobatches: Count,
  /** Dataset batches in one pass over the data (microbatch k reads batchFor(seed, k, datasetBatches)). */
  datasetBatches: Count,
  /** Tokens in one microbatch. */
  tokensPerMicrobatch: Count,
  /** Open leases the orchestrator keeps in flight (1 = synchronous schedule). */
  maxInFlight: Count,
  /** A lease not completed this many ticks after issue is reissued. */
  leaseTicks: Count,
  /** A miner with no fact for more than this many ticks is timed out. */
  heartbeatTimeoutTicks: Count,
  /** A miner that has been silent this many ticks sends a heartbeat. */
  heartbeatEveryTicks: Count,
  /** A stage merges after this many backward passes since its last merge. */
  mergeEvery: Count,
  /** A miner takes part in a merge if it did at least this many backward passes since its last one. */
  bMin: Count,
  /** Partitions of the flattened stage parameters in a merge. */
  partitions: Count,
  /** Ticks after MergeStarted by which contributions must be sent (then the merge is sealed). */
  mergeGatherTicks: Count,
  /** Ticks after MergeStarted after which the merge completes with what has quorum. */
  mergeDeadlineTicks: Count,
  /** Microbatches a miner accumulates per local optimizer step. */
  microbatchesPerStep: Count,
});

/**
 * Schedule constants: every timeout and threshold the orchestrator decides by, in ticks or counts,
 * and whether training goes on while a stage merges (v3). Overlapped: leases keep flowing and each
 * miner adopts a merge as result + (its weights now − the snapshot it sent), so the pipeline never
 * drains for a merge; not overlapped (every v1/v2 run): a merging stage holds its work.
 */
export const ScheduleV3 = Schema.Struct({ ...ScheduleV1.fields, overlapMerges: Schema.Boolean });

/**
 * v4: how a lease's next miner is chosen (protocol/routing.ts). "least-loaded": among the stage's
 * miners with the fewest leases awaiting their backward there, counted from the run's open leases;
 * "proportional": SWARM's throughput / (1 + reported queue) draw (every v1-v3 run).
 */
export const Routing = Schema.Literals(["proportional", "least-loaded"]);
export const ScheduleV4 = Schema.Struct({ ...ScheduleV3.fields, routing: Routing });

/**
 * v5: how the interval between a stage's merges is counted (protocol/lr.ts mergeInterval).
 * "fixed": every mergeEvery backward passes (every v1-v4 run). "lr-scaled": mergeEvery passes at
 * the peak learning rate, stretched by peak ÷ the rate at the run's current step (at most 4×).
 */
export const MergeInterval = Schema.Literals(["fixed", "lr-scaled"]);
export type MergeInterval = typeof MergeInterval.Type;
export const ScheduleV5 = Schema.Struct({ ...ScheduleV4.fields, mergeInterval: MergeInterval });

/**
 * v6: how merge snapshots are encoded (protocol/bf16.ts). "bf16": each participant rounds its
 * snapshot to bfloat16 (nearest, ties to even) and sends 2 bytes a value; reducers widen them to
 * float32; results stay float32. Absent or "f32": float32 snapshots (every v1-v5 run).
 */
export const SnapshotCodec = Schema.Literals(["f32", "bf16"]);
export const Schedule = Schema.Struct({ ...ScheduleV5.fields, snapshotCodec: Schema.optionalKey(SnapshotCodec) });
export type Schedule = typeof Schedule.Type;

/** One pipeline stage: its flattened parameter count and its initial weights (content reference). */
export const StageSpec = Schema.Struct({ params: Count, weights: Schema.String });
export type StageSpec = typeof StageSpec.Type;

export const SwarmRunStartedV1 = Schema.Struct({
  run: Schema.String,
  /** The actor whose decisions this run trusts (the orchestrator's identity). */
  orchestrator: Schema.String,
  /** Run seed: every seeded decision derives from it and an event id. */
  seed: Schema.String,
  /** Model configuration, opaque to the protocol (the kernels read it). */
  model: Schema.Unknown,
  stages: Schema.Array(StageSpec),
  schedule: ScheduleV1,
});

/**
 * How a stage's merge combines its miners' parameters. Absent: the sample-weighted mean is the
 * new parameters (every v1 run). Present: DiLoCo's outer step (Douillard et al. 2023) — each
 * reducer takes Δ = (partition after the previous merge) − mean and applies Nesterov momentum
 * (u ← μu + Δ; θ ← θ_prev − lr·(Δ + μu)); its result blob holds θ then u, so the outer state is
 * content-addressed, referenced from MergeCompleted, and re-derivable from the log.
 */
export const OuterStep = Schema.Struct({ lr: Schema.Number, momentum: Schema.Number });
export type OuterStep = typeof OuterStep.Type;

/** v2: v1 plus the merge's optional outer step. */
export const SwarmRunStartedV2 = Schema.Struct({ ...SwarmRunStartedV1.fields, outer: Schema.optionalKey(OuterStep) });
/** v3: v2 with the schedule's overlapMerges. */
export const SwarmRunStartedV3 = Schema.Struct({ ...SwarmRunStartedV2.fields, schedule: ScheduleV3 });
/** v4: v3 with the schedule's routing. */
export const SwarmRunStartedV4 = Schema.Struct({ ...SwarmRunStartedV3.fields, schedule: ScheduleV4 });
/** v5: v4 with the schedule's mergeInterval. */
export const SwarmRunStartedV5 = Schema.Struct({ ...SwarmRunStartedV4.fields, schedule: ScheduleV5 });
/** v6: v5 with the schedule's snapshotCodec. */
export const SwarmRunStartedV6 = Schema.Struct({ ...SwarmRunStartedV5.fields, schedule: Schedule });
export type SwarmRunConfig = typeof SwarmRunStartedV6.Type;

/** v1 runs merged by plain averaging: they upcast to v2 with no outer step. */
export const SwarmRunStartedV1Def = defineEvent("SwarmRunStarted", 1, SwarmRunStartedV1, (p): typeof SwarmRunStartedV2.Type => p);
/** v1 and v2 runs paused a stage's work while it merged: they upcast to v3 with overlapMerges false. */
export const SwarmRunStartedV2Def = defineEvent("SwarmRunStarted", 2, SwarmRunStartedV2, (p): typeof SwarmRunStartedV3.Type => ({ ...p, schedule: { ...p.schedule, overlapMerges: false } }));
/** v1-v3 runs drew the next miner in proportion to throughput / (1 + reported queue): they upcast to v4 with routing "proportional". */
export const SwarmRunStartedV3Def = defineEvent("SwarmRunStarted", 3, SwarmRunStartedV3, (p): typeof SwarmRunStartedV4.Type => ({ ...p, schedule: { ...p.schedule, routing: "proportional" } }));
/** v1-v4 runs merged every mergeEvery backward passes: they upcast to v5 with mergeInterval "fixed". */
export const SwarmRunStartedV4Def = defineEvent("SwarmRunStarted", 4, SwarmRunStartedV4, (p): typeof SwarmRunStartedV5.Type => ({ ...p, schedule: { ...p.schedule, mergeInterval: "fixed" } }));
/** v1-v5 runs sent float32 snapshots: they upcast to v6 with snapshotCodec "f32". */
export const SwarmRunStartedV5Def = defineEvent("SwarmRunStarted", 5, SwarmRunStartedV5, (p): SwarmRunConfig => ({ ...p, schedule: { ...p.schedule, snapshotCodec: "f32" } }));
export const SwarmRunStarted = defineEvent("SwarmRunStarted", 6, SwarmRunStartedV6);
/** The orchestrator's logical clock: time enters decisions only through these (a core fact). */
export { ClockTicked } from "../schemas/core.js";
/** Every microbatch was completed. */
export const RunCompleted = defineEvent("RunCompleted", 1, Schema.Struct({ microbatches: Count, tokens: Count }));

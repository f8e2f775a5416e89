// The stage worker's context, the events its host feeds it, the machine-local signals it derives
// from facts, and the effects it asks its host to perform (named actions the host provides).
import type { SwarmFact, SwarmEventType, SwarmPayloads } from "../../events/swarm/index.js";
import type { OrchestratorState } from "../orchestrator/index.js";

/** A fact the worker wants appended, ready for the envelope (an envelope Draft). */
export type WorkerDraft = {
  [T in SwarmEventType]: { readonly id: string; readonly type: T; readonly v: number; readonly step: number; readonly cause: readonly string[]; readonly payload: SwarmPayloads[T] };
}[SwarmEventType];

export interface WorkerInput {
  /** This miner's actor name (hotkey address). */
  readonly me: string;
  /** A nonce unique to this process start, so event ids of a restarted miner never collide. */
  readonly session: string;
  /** Self-measured throughput, reported on join and in heartbeats. */
  readonly throughput: number;
}

/** A unit of pipeline work for this miner. */
export type Work =
  | { readonly kind: "forward"; readonly lease: string; readonly stage: number; readonly batch: number; readonly input: string | null; readonly cause: string }
  | { readonly kind: "backward"; readonly lease: string; readonly stage: number; readonly grad: string; readonly cause: string };

export interface ReduceTask {
  readonly merge: string;
  readonly stage: number;
  readonly partition: number;
  /** The partition's reducers as assigned (this one among them): a reducer's peers for the cross-check. */
  readonly reducers: readonly string[];
  /** Sealed contributors in miner-id order, with their sample weights and partition content refs. */
  readonly contributors: readonly { readonly miner: string; readonly samples: number; readonly ref: string }[];
  /** Present when the run merges with an outer step (DiLoCo): what the reducer steps from. */
  readonly outer?: OuterTask;
  /** "bf16" when the contributors' snapshots are bfloat16 (run config v6); absent: float32. */
  readonly codec?: "bf16";
}

/** The outer step of one partition: the rule, and the partition's state after the stage's previous merge. */
export interface OuterTask {
  readonly lr: number;
  readonly momentum: number;
  /** The previous accepted result of this partition (parameters then momentum), or null: none yet. */
  readonly previous: string | null;
  /** With no previous result: the stage's initial weights, whose [start, end) is this partition, and zero momentum. */
  readonly initial: string;
  readonly start: number;
  readonly end: number;
}

export interface WorkerContext extends WorkerInput {
  readonly stage: number | null;
  /** The host's fold of the run's log (orchestrator state): roster, leases, merges, config. */
  readonly view: OrchestratorState;
  readonly tick: number;
  readonly lastPublished: number;
  /** Facts published so far in this session (event ids are `${run}:${me}:${session}:${n}`). */
  readonly published: number;
  /** Compute requests outstanding at the host. */
  readonly pending: number;
  /** Work held while this stage merges; replayed after. */
  readonly held: readonly Work[];
  /** Keys of work already requested (dedupe of redelivered facts), pruned when leases close. */
  readonly done: Readonly<Record<string, true>>;
  readonly steps: number;
  /** Leases whose backward passes are summed since the last step, in completion order (the next step's `leases`). */
  readonly accumulated: readonly string[];
  /** Leases this (non-final) stage forwarded whose backward has not run yet: a step waits for them (LrSchedule.deferWhileInFlight). */
  readonly awaiting: readonly string[];
  /** Optimizer steps this miner's AdamW has taken, a restored state's included (the local warmup counts them). */
  readonly optimizerSteps: number;
  /** Backward passes since the log last named this miner's weights (its load, or a store of a stage it serves alone). */
  readonly sinceStore: number;
  readonly merge: string | null;
  /**
   * A merge of this stage that started while this miner was still loading the previous merge's
   * result (the orchestrator starts the next one once the previous completes, not once every miner
   * has adopted it): it is started as soon as the load lands.
   */
  readonly nextMerge: Extract<Signal, { type: "merge.started" }> | null;
  /** Id of this session's MinerJoined; facts before it are folded into the view but not acted on. */
  readonly joinId: string | null;
  readonly listening: boolean;
}

/** Machine-local signals derived from facts (lowercase, dotted: they are not in the log). */
export type Signal =
  | { readonly type: "stage.assigned"; readonly stage: number; readonly weights: string; readonly epoch: number }
  | { readonly type: "work.arrived"; readonly work: Work }
  | { readonly type: "merge.started"; readonly merge: string; readonly participant: boolean; readonly partitions: number; readonly reducers: readonly (readonly string[])[] }
  | { readonly type: "reduce.requested"; readonly task: ReduceTask; readonly cause: string }
  | { readonly type: "merge.completed"; readonly merge: string; readonly epoch: number; readonly results: readonly (string | null)[] }
  | { readonly type: "clock.ticked"; readonly tick: number }
  | { readonly type: "lease.closed"; readonly lease: string }
  | { readonly type: "removed" }
  /** A validator's spot check names work this miner did with weights `weights`: it opens them. */
  | { readonly type: "open.requested"; readonly weights: string; readonly check: string };

/** Events the host sends: facts from the log, and results of the effects it performed. */
export type WorkerEvent =
  | { readonly type: "fact"; readonly fact: SwarmFact; readonly view: OrchestratorState }
  /** `weights`: the version (content hash) of the weights the forward ran with, when the kernels name it. */
  | { readonly type: "forward.done"; readonly lease: string; readonly stage: number; readonly ref: string; readonly bytes: number; readonly weights: string | null }
  | { readonly type: "loss.done"; readonly lease: string; readonly stage: number; readonly loss: number; readonly tokens: number; readonly ref: string; readonly bytes: number; readonly weights: string | null }
  | { readonly type: "backward.done"; readonly lease: string; readonly stage: number; readonly ref: string; readonly bytes: number }
  | { readonly type: "step.done"; readonly step: number; readonly leases: readonly string[]; readonly lr: number | null }
  | { readonly type: "partitions.sent"; readonly merge: string; readonly refs: readonly string[]; readonly bytes: number }
  | { readonly type: "reduce.done"; readonly merge: string; readonly partition: number; readonly hash: string }
  /** `optimizer`: the content ref of the AdamW state the miner stored with these weights, if it stored one. */
  | { readonly type: "weights.loaded"; readonly stage: number; readonly epoch: number; readonly ref: string; readonly optimizer?: string; readonly optimizerSteps?: number }
  /** The weights a storeWeights asked for are stored under `ref`. */
  | { readonly type: "weights.stored"; readonly stage: number; readonly epoch: number; readonly ref: string }
  /** The weights version a spot check asked for is stored (false: this miner no longer keeps it). */
  | { readonly type: "weights.opened"; readonly weights: string; readonly check: string; readonly ok: boolean }
  | { readonly type: "leave"; readonly reason: string }
  | Signal;

/** Effects the worker asks of its host: one named action each (hosts supply them with machine.provide). */
export type Effect =
  | { readonly type: "publish"; readonly params: WorkerDraft }
  /** Forward a non-final stage: stage 0 reads dataset batch `batch`, later stages decode `input`. Reply forward.done. */
  | { readonly type: "forward"; readonly params: Extract<Work, { kind: "forward" }> }
  /** Last stage: forward, loss on batch `batch`'s targets, backward. Reply loss.done. */
  | { readonly type: "lastStage"; readonly params: Extract<Work, { kind: "forward" }> }
  /** Backward with the returned gradient `grad`, accumulating parameter gradients. Reply backward.done. */
  | { readonly type: "backward"; readonly params: Extract<Work, { kind: "backward" }> }
  /**
   * A local optimizer step over the mean of the gradients of `leases` at learning rate `lr` (null:
   * the run's model names no schedule). Reply step.done with the same step, leases and lr.
   */
  | { readonly type: "stepOptimizer"; readonly params: { readonly stage: number; readonly step: number; readonly leases: readonly string[]; readonly lr: number | null } }
  /** Upload the kept weights version `weights` a spot check `check` asks for. Reply weights.opened. */
  | { readonly type: "openWeights"; readonly params: { readonly weights: string; readonly check: string } }
  /** Snapshot weights, cut into partitions, send partition i to reducers[i] (and keep the copy). Reply partitions.sent. */
  | { readonly type: "sendPartitions"; readonly params: { readonly merge: string; readonly stage: number; readonly partitions: number; readonly reducers: readonly (readonly string[])[]; readonly codec?: "bf16" } }
  /** Keep a copy of the weights as merge `merge`'s base without sending it (a non-participant of an overlapped merge). */
  | { readonly type: "snapshotWeights"; readonly params: { readonly merge: string } }
  /** weightedAverage of the contributors' copies of one partition; hash the bytes. Reply reduce.done. */
  | { readonly type: "reduce"; readonly params: ReduceTask }
  /**
   * Store the current weights (a stage served by this miner alone never merges, so nothing else
   * would name its trained weights in the log). Reply weights.stored.
   */
  | { readonly type: "storeWeights"; readonly params: { readonly stage: number; readonly epoch: number } }
  /** Load a stage's full weights by content ref, and when the log names one the stage's freshest AdamW state. Reply weights.loaded. */
  | { readonly type: "loadWeights"; readonly params: { readonly stage: number; readonly ref: string; readonly epoch: number; readonly optimizer?: string } }
  /**
   * Adopt accepted partitions (by hash; under an outer rule, the parameter half of each result);
   * keep own values for skipped ones. Reply weights.loaded.
   */
  | { readonly type: "applyMerge"; readonly params: { readonly merge: string; readonly stage: number; readonly epoch: number; readonly results: readonly (string | null)[]; readonly outer: boolean; readonly overlap: boolean; readonly storeOptimizer: boolean } };

// Time travel: a run's state at any point of its log (orchestrator, each stage worker's XState
// machine, each validator's scores), folded from the log alone, and what changed between two points.
export { CHECKPOINT_EVERY, Replayer, snapshotAt } from "./replayer.js";
export { focusSnapshot } from "./focus.js";
export { diffSnapshots, type Change, type Json, type SnapshotDiff } from "./diff.js";
export { prepareLog, resolveAt, type ReplayEntry, type ReplayLog } from "./log.js";
export { foldEntry, foldTo, initialReplay, type ReplayState, type ValidatorFold } from "./fold.js";
export { runSnapshot } from "./summary.js";
export type {
  At, LeaseSnapshot, MergeSnapshot, MinerSnapshot, OrchestratorSnapshot, PartitionSnapshot, Position, ReplayError, RunSnapshot, StageSnapshot,
  StateValue, ValidatorSnapshot, WindowSnapshot, WorkerMachineSnapshot, WorkerSnapshot, WorkerUnknown,
} from "./types.js";

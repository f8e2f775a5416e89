// The orchestrator decider: state, fold, decisions, audit. Hosts fold the run's facts with
// `evolve`, send `Advance` after each, and append what `decide` returns.
export { initialState, isLive, stageMiners } from "./state.js";
export type { Counters, LeaseState, MergeState, MinerState, MinerStatus, OrchestratorState, Participant, PartitionState, Retry, StageState } from "./state.js";
export { evolve, fold } from "./evolve.js";
export { asFact, decide, MAX_BATCH, nextProposal, RULES, type Decision, type OrchestratorCommand, type Rejection } from "./decide.js";
export { chooseStage } from "./rules/membership.js";
export { pipelineReady } from "./rules/leases.js";
export { quorumHash, MAX_DISPUTE_REDUCERS } from "./rules/merges.js";
export { auditDecisions, checkInvariants, foldViews, isInput, type AuditFinding, type ScheduleReport } from "./audit.js";

// The scorer (validator) decider: CLASP contributions per scoring window, spot-check draws and
// verdicts, flags, and the payout it proposes; all a fold of the log, so auditors re-derive them.
export { clasp, type ClaspOptions, type MinerScore, type PathwaySample } from "./clasp.js";
export { exactContributions, type StageGame } from "./shapley.js";
export { initialScorerState, type AcceptedPartition, type LeaseWork, type ScorerState, type ScoringSettings, type StageWork, type Verdict, type WindowState } from "./state.js";
export { evolveScorer } from "./evolve.js";
export { asScorerFact, decideScorer, flagsOf, nextProposals, type ScorerCommand, type ScorerDecision, type ScorerRejection } from "./decide.js";
export { drawChecks, pipelineCandidates } from "./draw.js";
export { evidenceOf, type WorkEvidence } from "./evidence.js";
export { payout, rawScore, U16_MAX, type MinerResult, type PayoutEntry, type PayoutSettings } from "./payout.js";
export { auditScorer, validatorsOf } from "./audit.js";

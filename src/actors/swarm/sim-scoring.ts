// What a sim's validator scores by, and what it concluded: the default scoring settings for a
// local run (every miner registered, uid 0 the run owner), and the per-miner summary `sim --json`
// reports, read from the validator's facts alone.
import type { SwarmFact } from "../../events/swarm/index.js";
import type { ScoringSettings } from "../../machines/scorer/index.js";
import { type MinerRow, minerTable } from "../../machines/scorer/report.js";
import { KEPT_VERSIONS } from "./compute.js";

/**
 * Defaults of a validator: two scoring windows over the run (at most KEPT_VERSIONS microbatches
 * each, so every miner still keeps the weights any check of a window can name), every miner
 * spot-checked twice per window, every reduction once.
 */
export const defaultScoring = (microbatches: number, miners: readonly string[], owner: string): ScoringSettings => ({
  window: Math.min(KEPT_VERSIONS, Math.max(20, Math.ceil(microbatches / 2))),
  delta: 0.05,
  confidence: 0.95,
  bootstrap: 200,
  spotPerMiner: 2,
  reduceRate: 1,
  burn: 0,
  owner,
  metagraph: [{ hotkey: owner, uid: 0 }, ...miners.map((hotkey, i) => ({ hotkey, uid: i + 1 }))],
});

/** One miner's result over the run (sim --json `scores`). */
export interface MinerScoreSummary {
  /** Its contribution over the run: the sample-weighted mean of its windows' (loss units; positive lowers the loss). */
  readonly contribution: number;
  readonly ci: readonly [number, number];
  /** Flagged in any window. */
  readonly flagged: boolean;
  readonly reasons: readonly string[];
  /** Its share of the run's payout: the mean of its window shares (each window pays the same). */
  readonly weight: number;
  readonly spotChecks: { readonly passed: number; readonly failed: number };
}

/** Every miner the validator scored, flagged or paid, by id: the auditor's table (machines/scorer/report.ts), summarised. */
export const summarizeScores = (facts: readonly SwarmFact[], validator: string): Record<string, MinerScoreSummary> => {
  const t = minerTable(facts, validator);
  return Object.fromEntries(Object.keys(t.miners).sort().map((m) => {
    const r = t.miners[m] as MinerRow;
    const reasons = [...new Set(r.flags.map((f) => f.reason))].sort();
    return [m, { contribution: r.contribution ?? 0, ci: r.ci ?? [0, 0], flagged: reasons.length > 0, reasons, weight: r.share, spotChecks: r.spotChecks }];
  }));
};

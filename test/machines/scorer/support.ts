// Test support for the scorer: a pure swarm of 12 miners over 3 stages with a validator, and the
// settings it scores by.
import type { ScoringSettings } from "../../../src/machines/scorer/index.js";
import type { AdversaryKind, SimOptions } from "../../../src/machines/sim/index.js";
import { miners, simOptions } from "../support.js";

export const VALIDATOR = "validator";

/** Every miner of the roster is registered (uids 1..n; the owner is uid 0). */
export const settings = (n: number, over: Partial<ScoringSettings> = {}): ScoringSettings => ({
  window: 60, delta: 0.05, confidence: 0.95, bootstrap: 100, spotPerMiner: 2, reduceRate: 1, burn: 0, owner: "owner",
  metagraph: [{ hotkey: "owner", uid: 0 }, ...miners(n).map((m, i) => ({ hotkey: m.id, uid: i + 1 }))],
  ...over,
});

/** A scored pure swarm: `n` miners over 3 stages, 120 microbatches, two scoring windows. */
export const scoredSwarm = (seed: number, adversaries: Readonly<Record<string, AdversaryKind>> = {}, n = 12, over: Partial<SimOptions> = {}): SimOptions => {
  const base = simOptions({ miners: miners(n), maxTicks: 3000, adversaries, validator: { id: VALIDATOR, settings: settings(n) }, ...over }, {
    totalMicrobatches: 120, datasetBatches: 60, maxInFlight: 6, mergeEvery: 12, partitions: 4, microbatchesPerStep: 1, overlapMerges: true,
  });
  return { ...base, config: { ...base.config, seed: `seed-${seed}`, params: [64, 64, 64] } };
};

// From a validator's audited payout (WeightsProposed entries) to the vector subtensor takes, and
// the checks the chain would make, done first so a refused vector is never sent. Pure: the
// metagraph snapshot and hyperparameters arrive as data. Rules (DESIGN "Bittensor weights",
// subtensor weights.rs): non-finite weights dropped, negatives clamped to 0, uids sorted and
// unique, max-upscaled so the largest is 65535; zeros count toward min_allowed_weights.
import { HotkeyNotRegistered, WeightsInvalid, WeightsRateLimited } from "./errors.js";
import type { Metagraph } from "./metagraph.js";

export const U16_MAX = 65535;

/** One payout row as WeightsProposed records it. */
export interface PayoutRow { readonly hotkey: string; readonly uid: number; readonly weight: number }

/** What set_weights / reveal_weights carry. */
export interface WeightVector { readonly uids: readonly number[]; readonly values: readonly number[] }

/** subtensor's vec_u16_max_upscale_to_u16 on already-clean values: the largest becomes 65535. */
export const maxUpscale = (values: readonly number[]): number[] => {
  const max = values.reduce((a, b) => Math.max(a, b), 0);
  return max === 0 ? values.map(() => 0) : values.map((v) => Math.round((v * U16_MAX) / max));
};

export interface VectorOptions {
  /**
   * Pad with zero weights for the lowest unnamed uids up to min(min_allowed_weights, subnet size).
   * A zero pays nobody and the chain counts it, so padding changes no share; off, a short vector is refused.
   */
  readonly pad?: boolean;
}

/**
 * The weight vector of a payout on the chain's metagraph. Refuses (WeightsInvalid, nothing sent) a
 * payee whose hotkey is no longer at the uid the payout named (the snapshot moved: re-score, do not
 * guess), a payout with no positive weight, and a vector the subnet's limits refuse.
 */
export const weightVector = (rows: readonly PayoutRow[], m: Metagraph, o: VectorOptions = {}): WeightVector => {
  const n = m.neurons.length;
  const byUid = new Map<number, number>();
  for (const r of rows) {
    if (!Number.isFinite(r.weight)) continue;
    if (!Number.isInteger(r.uid) || r.uid < 0 || r.uid >= n) throw new WeightsInvalid({ rule: "unknown-uid", sent: false, message: `payee ${r.hotkey} has uid ${r.uid}, but subnet ${m.netuid} has uids 0..${n - 1}` });
    const at = m.neurons[r.uid];
    if (at?.hotkey !== r.hotkey) throw new WeightsInvalid({ rule: "metagraph-changed", sent: false, message: `the payout names ${r.hotkey} at uid ${r.uid}, but the chain holds ${at?.hotkey ?? "nobody"} there (block ${m.block}): the metagraph moved since the window was scored` });
    if (byUid.has(r.uid)) throw new WeightsInvalid({ rule: "duplicate-uids", sent: false, message: `uid ${r.uid} appears twice in the payout` });
    byUid.set(r.uid, Math.min(U16_MAX, Math.max(0, r.weight)));
  }
  if (![...byUid.values()].some((w) => w > 0)) throw new WeightsInvalid({ rule: "empty", sent: false, message: "the payout has no positive weight: nothing to set" });
  const min = Math.min(m.hyperparameters.minAllowedWeights, n);
  if (byUid.size < min) {
    if (o.pad === false) throw new WeightsInvalid({ rule: "min-allowed-weights", sent: false, message: `subnet ${m.netuid} needs at least ${min} weights (min_allowed_weights ${m.hyperparameters.minAllowedWeights}), the payout has ${byUid.size}` });
    for (let uid = 0; uid < n && byUid.size < min; uid++) if (!byUid.has(uid)) byUid.set(uid, 0);
  }
  const uids = [...byUid.keys()].sort((a, b) => a - b);
  const values = maxUpscale(uids.map((u) => byUid.get(u) as number));
  const limit = m.hyperparameters.maxWeightsLimit;
  if (limit < U16_MAX) {
    // The chain normalises the vector to sum 1 and compares its largest entry with limit / 65535.
    const sum = values.reduce((a, b) => a + b, 0);
    const top = Math.max(...values) / sum;
    if (top > limit / U16_MAX) throw new WeightsInvalid({ rule: "max-weight-limit", sent: false, message: `the largest weight is ${(top * 100).toFixed(2)}% of the vector, subnet ${m.netuid} allows ${((limit / U16_MAX) * 100).toFixed(2)}% (max_weight_limit ${limit}); an audited payout is not reshaped to fit` });
  }
  return { uids, values };
};

/**
 * The checks on the validator itself: registered on the subnet, holding a validator permit, and
 * past the rate limit since its last weights. Returns its uid.
 */
export const checkValidator = (hotkey: string, m: Metagraph): number => {
  const me = m.neurons.find((x) => x.hotkey === hotkey);
  if (me === undefined) throw new HotkeyNotRegistered({ hotkey, netuid: m.netuid, sent: false, message: `the validator's hotkey ${hotkey} is not registered on subnet ${m.netuid}` });
  if (!me.validatorPermit) throw new WeightsInvalid({ rule: "validator-permit", sent: false, message: `the validator's hotkey ${hotkey} (uid ${me.uid}) has no validator permit on subnet ${m.netuid}` });
  const wait = me.lastUpdate === 0 ? 0 : me.lastUpdate + m.hyperparameters.weightsSetRateLimit - m.block;
  if (wait > 0) throw new WeightsRateLimited({ netuid: m.netuid, sent: false, message: `uid ${me.uid} set weights at block ${me.lastUpdate}; subnet ${m.netuid} allows one setting every ${m.hyperparameters.weightsSetRateLimit} blocks: wait ${wait} more blocks (head ${m.block})` });
  return me.uid;
};

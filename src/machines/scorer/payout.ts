// From a window's scores to the weights a validator sets on chain: a pure function, so an auditor
// re-derives the payout bit for bit. Subtensor's rules (set_weights): uids sorted and unique,
// u16 weights max-upscaled so the largest is 65535; zeros are kept (they count toward
// min_allowed_weights).
import type { Neuron } from "../../events/swarm/index.js";
import { byCodeUnit } from "../protocol/index.js";

export const U16_MAX = 65535;

/** What a miner did in a window, as the scorer measured it. */
export interface MinerResult {
  /** Accepted work: microbatches completed through this miner. */
  readonly samples: number;
  /** CLASP contribution (loss units; positive lowers the loss). */
  readonly contribution: number;
  readonly flagged: boolean;
}

export interface PayoutEntry {
  readonly hotkey: string;
  readonly uid: number;
  readonly share: number;
  readonly weight: number;
}

export interface PayoutSettings {
  /** Share of the payout burnt to the owner's uid. */
  readonly burn: number;
  readonly owner: string | null;
  readonly metagraph: readonly Neuron[];
}

/**
 * A miner's raw score: its accepted work scaled by its quality, work × max(0, 1 + ψ / L̄) with L̄
 * the window's mean loss, so lowering the loss by 10% of it is worth 10% more than neutral work
 * and a miner whose pathways lose more than L̄ above its mates earns nothing. Flagged: 0.
 */
export const rawScore = (r: MinerResult, meanLoss: number): number => {
  if (r.flagged || !(r.samples > 0) || !Number.isFinite(r.contribution)) return 0;
  const scale = meanLoss > 0 && Number.isFinite(meanLoss) ? meanLoss : 1;
  return r.samples * Math.max(0, 1 + r.contribution / scale);
};

/**
 * The payout: shares normalised to 1 over miners in the metagraph (a miner missing there is not
 * paid), `burn` of it to the owner's uid when the owner is registered, every scored miner listed
 * (zeros included), uid order, u16-quantised by max-upscaling. Summation in uid order.
 */
export const payout = (results: Readonly<Record<string, MinerResult>>, meanLoss: number, o: PayoutSettings): PayoutEntry[] => {
  const uidOf = new Map<string, number>();
  for (const n of [...o.metagraph].sort((a, b) => a.uid - b.uid || byCodeUnit(a.hotkey, b.hotkey))) if (!uidOf.has(n.hotkey)) uidOf.set(n.hotkey, n.uid);
  const rows = new Map<number, { hotkey: string; raw: number }>();
  for (const m of Object.keys(results).sort(byCodeUnit)) {
    const uid = uidOf.get(m);
    if (uid === undefined || rows.has(uid)) continue;
    rows.set(uid, { hotkey: m, raw: rawScore(results[m] as MinerResult, meanLoss) });
  }
  const burn = Math.min(1, Math.max(0, Number.isFinite(o.burn) ? o.burn : 0));
  const ownerUid = o.owner === null ? undefined : uidOf.get(o.owner);
  const uids = [...rows.keys()].sort((a, b) => a - b);
  let total = 0;
  for (const u of uids) total += (rows.get(u) as { raw: number }).raw;
  const minersShare = ownerUid === undefined || burn === 0 ? 1 : 1 - burn;
  const shares = new Map<number, { hotkey: string; share: number }>();
  for (const u of uids) {
    const r = rows.get(u) as { hotkey: string; raw: number };
    shares.set(u, { hotkey: r.hotkey, share: total > 0 ? (minersShare * r.raw) / total : 0 });
  }
  if (ownerUid !== undefined && burn > 0) {
    const prev = shares.get(ownerUid)?.share ?? 0;
    // With nothing earned by miners, the whole payout goes to the owner (nothing to normalise over).
    shares.set(ownerUid, { hotkey: o.owner as string, share: prev + (total > 0 ? burn : 1) });
  }
  const ordered = [...shares.keys()].sort((a, b) => a - b);
  let max = 0;
  for (const u of ordered) max = Math.max(max, (shares.get(u) as { share: number }).share);
  return ordered.map((u) => {
    const { hotkey, share } = shares.get(u) as { hotkey: string; share: number };
    return { hotkey, uid: u, share, weight: max > 0 ? Math.round((share / max) * U16_MAX) : 0 };
  });
};

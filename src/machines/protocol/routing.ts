// SWARM stochastic wiring (Ryabinin et al. 2023, "SWARM Parallelism", sec. 3.2): a sender picks
// the next-stage peer at random with probability proportional to its measured throughput and
// inversely to its queue, so fast idle peers get more work and a dead one stops receiving it.
import { byCodeUnit, type Rng } from "./rng.js";

/** One candidate peer as the sender saw it (recorded in the forwarding event, so it can be audited). */
export interface PeerLoad {
  readonly miner: string;
  /** Measured throughput (microbatches or tokens per tick; only ratios matter). */
  readonly throughput: number;
  /** Work queued at the peer when last reported. */
  readonly queue: number;
}

/** Routing weight: throughput / (1 + queue); non-finite or negative throughput counts as 0. */
export const routeWeight = (p: PeerLoad): number =>
  Number.isFinite(p.throughput) && p.throughput > 0 ? p.throughput / (1 + Math.max(0, p.queue)) : 0;

/**
 * How the next peer is drawn. "proportional": SWARM's weight throughput / (1 + queue) (every run
 * before run config v4). "least-loaded": only the live peers with the smallest queue, weighted by
 * throughput: a peer already holding work waits for it while another is free, so with a lease's
 * queue counted as the leases awaiting their backward at that peer, no miner holds two leases in
 * flight while a stage-mate holds none (its optimizer step would wait for both, or take a stale one).
 */
export type Routing = "proportional" | "least-loaded";

/** Weights of the least-loaded rule: throughput for the live peers with the fewest queued, 0 for the rest. */
const leastLoadedWeights = (peers: readonly PeerLoad[]): number[] => {
  const live = (p: PeerLoad): boolean => Number.isFinite(p.throughput) && p.throughput > 0;
  let min = Number.POSITIVE_INFINITY;
  for (const p of peers) if (live(p)) min = Math.min(min, Math.max(0, p.queue));
  return peers.map((p) => (live(p) && Math.max(0, p.queue) === min ? p.throughput : 0));
};

/**
 * Picks one peer, deterministic given `rng`. Candidates are sorted by miner id first, so the
 * caller's order does not matter. If every weight is 0 the choice is uniform. Invariant: the result
 * is one of the candidates; undefined only for an empty list. Exactly one draw is consumed.
 */
export const pickPeer = (candidates: readonly PeerLoad[], rng: Rng, routing: Routing = "proportional"): string | undefined => {
  if (candidates.length === 0) return undefined;
  const sorted = candidates.slice().sort((a, b) => byCodeUnit(a.miner, b.miner));
  const weights = routing === "proportional" ? sorted.map(routeWeight) : leastLoadedWeights(sorted);
  const total = weights.reduce((s, w) => s + w, 0);
  const u = rng.float();
  if (total <= 0) return (sorted[Math.floor(u * sorted.length)] as PeerLoad).miner;
  let acc = 0;
  const target = u * total;
  for (let i = 0; i < sorted.length; i++) {
    acc += weights[i] as number;
    if (target < acc && (weights[i] as number) > 0) return (sorted[i] as PeerLoad).miner;
  }
  // Floating-point tail: the last peer with positive weight.
  for (let i = sorted.length - 1; i >= 0; i--) if ((weights[i] as number) > 0) return (sorted[i] as PeerLoad).miner;
  return (sorted[0] as PeerLoad).miner;
};

// Butterfly All-Reduce partitioning (hivemind `averaging/partition.py`; IOTA's merge): the stage's
// flattened parameter vector is cut into P contiguous partitions, and each partition gets r = 2
// reducers from the merge participants, balanced and seeded so anyone can recompute the plan.
import { byCodeUnit, type Rng, shuffled } from "./rng.js";

/** A half-open element range [start, end) of the flattened parameter vector. */
export interface Partition {
  readonly index: number;
  readonly start: number;
  readonly end: number;
}

/**
 * Cuts [0, n) into min(p, n) contiguous partitions whose sizes differ by at most one (the first
 * n mod p are one longer). Invariant (property-tested): the partitions are in order, non-empty,
 * disjoint, and their union is exactly [0, n).
 */
export const partitionBounds = (n: number, p: number): Partition[] => {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`vector length must be a positive integer, got ${n}`);
  if (!Number.isInteger(p) || p < 1) throw new RangeError(`partition count must be a positive integer, got ${p}`);
  const count = Math.min(p, n);
  const base = Math.floor(n / count);
  const extra = n % count;
  const out: Partition[] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const end = start + base + (i < extra ? 1 : 0);
    out.push({ index: i, start, end });
    start = end;
  }
  return out;
};

/** Reducers per partition: both must publish the same result hash for it to be accepted. */
export const REDUCERS_PER_PARTITION = 2;

/**
 * Assigns every partition two distinct reducers among `participants` (at least 2). The participants
 * are sorted, then shuffled by `rng` into an order s; reducer slots 0..2P-1 are dealt round-robin,
 * so partition i gets s[2i mod M] and s[(2i+1) mod M]. Invariants (property-tested): the two
 * reducers of a partition differ (consecutive residues mod M >= 2), and reducer loads differ by at
 * most one, so each miner reduces ~2P/M partitions and merge traffic stays flat in M.
 */
export const assignReducers = (partitions: number, participants: readonly string[], rng: Rng): string[][] => {
  const m = participants.length;
  if (m < 2) throw new RangeError(`a merge needs at least 2 participants, got ${m}`);
  if (new Set(participants).size !== m) throw new RangeError("participants must be distinct");
  const order = shuffled(participants.slice().sort(byCodeUnit), rng);
  const out: string[][] = [];
  for (let i = 0; i < partitions; i++) out.push([order[(2 * i) % m] as string, order[(2 * i + 1) % m] as string]);
  return out;
};

/**
 * Chooses an extra reducer for a disputed partition or one whose reducer was lost: among
 * `candidates` not in `exclude`, those with the least current `load` (partitions held), one drawn
 * by `rng`. Undefined when nobody is left.
 */
export const chooseExtraReducer = (
  candidates: readonly string[],
  exclude: readonly string[],
  load: (miner: string) => number,
  rng: Rng,
): string | undefined => {
  const open = candidates.filter((c) => !exclude.includes(c)).sort(byCodeUnit);
  if (open.length === 0) return undefined;
  const least = Math.min(...open.map(load));
  const best = open.filter((c) => load(c) === least);
  return best[rng.int(best.length)];
};

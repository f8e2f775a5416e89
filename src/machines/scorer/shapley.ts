// Exact Shapley values of a stage game, by enumerating every pathway: the reference that the CLASP
// estimator (clasp.ts) is tested and benchmarked against. Small games only (at most 2^20 pathways).
import { byCodeUnit } from "../protocol/index.js";

/** A stage game: players[s] = the miners of stage s; loss(pathway) = the expected loss of that pathway. */
export interface StageGame {
  readonly players: readonly (readonly string[])[];
  readonly loss: (pathway: readonly string[]) => number;
}

const MAX_PATHWAYS = 1 << 20;

/** Every pathway's loss, in mixed-radix order (the last stage varies fastest), and the digit of stage s of pathway k. */
const enumerate = (g: StageGame): { readonly sizes: readonly number[]; readonly losses: Float64Array; readonly digit: (k: number, s: number) => number } => {
  const sizes = g.players.map((ms) => ms.length);
  if (sizes.length === 0 || sizes.some((m) => m === 0)) throw new RangeError("a stage game needs at least one stage and one miner per stage");
  const seen = new Set<string>();
  for (const m of g.players.flat()) {
    if (seen.has(m)) throw new RangeError(`miner "${m}" appears twice in the stage game; miner names must be unique across stages`);
    seen.add(m);
  }
  const count = sizes.reduce((a, b) => a * b, 1);
  if (count > MAX_PATHWAYS) throw new RangeError(`${count} pathways is too many to enumerate (at most ${MAX_PATHWAYS})`);
  const stride = sizes.map((_, s) => sizes.slice(s + 1).reduce((a, b) => a * b, 1));
  const digit = (k: number, s: number): number => Math.floor(k / (stride[s] as number)) % (sizes[s] as number);
  const losses = new Float64Array(count);
  for (let k = 0; k < count; k++) losses[k] = g.loss(g.players.map((ms, s) => ms[digit(k, s)] as string));
  return { sizes, losses, digit };
};

const mean = (xs: Float64Array): number => {
  let t = 0;
  for (let k = 0; k < xs.length; k++) t += xs[k] as number;
  return t / xs.length;
};

/**
 * Exact per-miner contribution under uniform independent routing: E[L] − E[L | m on the pathway],
 * in loss units (positive = the miner lowers the loss). Keys in code-unit order.
 *
 * Why this is the Shapley value. Take the stages as players and, for a pathway π, the game
 * v_π(T) = E[L] − E[L | the stages in T fixed to π's miners] (the loss removed by knowing T's
 * choices). Under independent routing, L has the functional-ANOVA (Hoeffding) decomposition
 * L = Σ_U f_U(π_U) over subsets U of stages, each f_U centred in every one of its coordinates and
 * the terms orthogonal; then v_π(T) = −Σ_{∅≠U⊆T} f_U(π_U), a sum of unanimity games, so the Shapley
 * value of stage s is φ_s(π) = −Σ_{U∋s} f_U(π_U) / |U| (each interaction shared equally). Averaged
 * over the pathways through miner m at stage s, every f_U with |U| ≥ 2 integrates to 0 over the other
 * stages, leaving −f_{s}(m) = E[L] − E[L | π_s = m]: this function's value. (Owen 1972 and
 * Hooker 2004 on ANOVA and Shapley; `stageShapley` computes the textbook side, and the tests check
 * the two agree, interactions included.)
 */
export const exactContributions = (g: StageGame): Record<string, number> => {
  const { sizes, losses, digit } = enumerate(g);
  const total = mean(losses);
  const sums = sizes.map((m) => new Float64Array(m));
  for (let k = 0; k < losses.length; k++) {
    for (let s = 0; s < sizes.length; s++) {
      const row = sums[s] as Float64Array, j = digit(k, s);
      row[j] = (row[j] as number) + (losses[k] as number);
    }
  }
  const out: [string, number][] = [];
  g.players.forEach((ms, s) => {
    const per = losses.length / (sizes[s] as number);
    ms.forEach((m, j) => out.push([m, total - ((sums[s] as Float64Array)[j] as number) / per]));
  });
  return Object.fromEntries(out.sort((a, b) => byCodeUnit(a[0], b[0])));
};

/**
 * Textbook Shapley values of the stages for one pathway π: φ_s = Σ_{T ∌ s} |T|!(S−|T|−1)!/S! ·
 * (v(T ∪ {s}) − v(T)), with v(T) = E[L] − E[L | π fixed on T], the other stages drawn uniformly.
 * Efficiency: Σ_s φ_s = v(all) = E[L] − L(π). One entry per stage.
 */
export const stageShapley = (g: StageGame, pathway: readonly string[]): readonly number[] => {
  const { sizes, losses, digit } = enumerate(g);
  const S = sizes.length;
  if (pathway.length !== S) throw new RangeError(`pathway has ${pathway.length} stages, the game ${S}`);
  const chosen = pathway.map((m, s) => {
    const j = (g.players[s] as readonly string[]).indexOf(m);
    if (j < 0) throw new RangeError(`"${m}" is not a miner of stage ${s}`);
    return j;
  });
  // sum[A] = Σ loss over pathways agreeing with π exactly on the stage set A; then a superset
  // sum turns it into Σ over pathways agreeing on (at least) T.
  const sum = new Float64Array(1 << S);
  for (let k = 0; k < losses.length; k++) {
    let agree = 0;
    for (let s = 0; s < S; s++) if (digit(k, s) === chosen[s]) agree |= 1 << s;
    sum[agree] = (sum[agree] as number) + (losses[k] as number);
  }
  for (let s = 0; s < S; s++) for (let t = 0; t < 1 << S; t++) if ((t & (1 << s)) === 0) sum[t] = (sum[t] as number) + (sum[t | (1 << s)] as number);
  const condMean = (t: number): number => {
    let free = 1;
    for (let s = 0; s < S; s++) if ((t & (1 << s)) === 0) free *= sizes[s] as number;
    return (sum[t] as number) / free;
  };
  const fact = [1];
  for (let k = 1; k <= S; k++) fact.push((fact[k - 1] as number) * k);
  const popcount = (t: number): number => {
    let c = 0;
    for (let x = t; x !== 0; x &= x - 1) c++;
    return c;
  };
  return sizes.map((_, s) => {
    let phi = 0;
    for (let t = 0; t < 1 << S; t++) {
      if ((t & (1 << s)) !== 0) continue;
      const k = popcount(t);
      const weight = ((fact[k] as number) * (fact[S - k - 1] as number)) / (fact[S] as number);
      phi += weight * (condMean(t) - condMean(t | (1 << s))); // v(T ∪ s) − v(T) = E[L|T] − E[L|T ∪ s]
    }
    return phi;
  });
};

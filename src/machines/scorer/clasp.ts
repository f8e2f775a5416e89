// CLASP (Contribution Loss Assessment via Sampling of Pathways): each miner's effect on the loss of
// the pathways through it, E[L] − E[L | miner], estimated from logged pathway losses within time
// buckets, with a seeded bootstrap interval and a harm flag. Pure; the same input gives the same bits.
import { byCodeUnit, rngFor } from "../protocol/index.js";

/** One routed microbatch: pathway[s] is the miner of stage s, `loss` its loss at training step `step`. */
export interface PathwaySample { readonly pathway: readonly string[]; readonly loss: number; readonly step: number }

export interface ClaspOptions {
  /** Seed of the bootstrap (the scorer passes a string derived from the log, e.g. run seed + window). */
  readonly seed: string;
  /** Bootstrap replicates; default 200. */
  readonly bootstrap?: number;
  /** Two-sided confidence level of ci; default 0.95. */
  readonly confidence?: number;
  /** Harm margin δ in loss units (flag when ci[1] < -delta, Holm-corrected over the stage's miners); default 0.02. */
  readonly delta?: number;
  /** Minimum samples for a miner to be flaggable; default 4. */
  readonly minSamples?: number;
}

export interface MinerScore {
  readonly stage: number;
  /** E[loss] − E[loss | miner on the pathway], loss units; positive = lowers the loss. */
  readonly contribution: number;
  readonly ci: readonly [number, number];
  readonly samples: number;
  readonly flagged: boolean;
}

/** The defaults of ClaspOptions. */
export const CLASP_DEFAULTS = { bootstrap: 200, confidence: 0.95, delta: 0.02, minSamples: 4 } as const;

/** Samples per bucket per miner of the busiest stage: buckets hold about 8·M samples. */
const PER_MINER_PER_BUCKET = 8;
const MAX_ITERATIONS = 500;
const OUTLIER_Z = -3.5;

/**
 * The kept samples, sorted and cut into step buckets, reduced to what a bucket-weighted fit needs:
 * per bucket, its players' sample counts and loss sums, and its cross-stage co-occurrence counts (a
 * bootstrap replicate reweights buckets, so it refits from these instead of the samples).
 */
interface Design {
  readonly n: number;
  readonly stages: number;
  /** Players are (stage, miner) pairs: stage s owns ids stageStart[s] .. stageStart[s+1] − 1, miners in code-unit order. */
  readonly stageStart: Int32Array;
  readonly miners: readonly string[];
  readonly loss: Float64Array;
  /** who[s][i] = the player of sample i at stage s. */
  readonly who: readonly Int32Array[];
  /** Bucket b holds samples bucketStart[b] .. bucketStart[b+1] − 1, with loss sum bucketLoss[b]. */
  readonly bucketStart: Int32Array;
  readonly bucketLoss: Float64Array;
  /** Bucket b's players: player[k], count[k], lossSum[k] for k in playerStart[b] .. playerStart[b+1] − 1. */
  readonly playerStart: Int32Array;
  readonly player: Int32Array;
  readonly count: Float64Array;
  readonly lossSum: Float64Array;
  /** Bucket b's co-occurrences: pairKey[k] = p·P + q (p < q, other stages), pairCount[k], k in pairStart[b] .. pairStart[b+1] − 1. */
  readonly pairStart: Int32Array;
  readonly pairKey: Int32Array;
  readonly pairCount: Float64Array;
}

/**
 * Keeps samples with a finite loss and step and a pathway of the most common length (ties: the
 * shorter); the rest are skipped. Sorting by (step, pathway, loss) makes the result independent of
 * input order. Buckets: about max(2, ⌊n / (8·M)⌋) runs of consecutive steps of equal sample count
 * (M = miners of the busiest stage), each cut moved forward so that a step is never split.
 */
const design = (samples: readonly PathwaySample[]): Design | undefined => {
  const ok = samples.filter((x) => x.pathway.length > 0 && Number.isFinite(x.loss) && Number.isFinite(x.step));
  const freq = new Map<number, number>();
  for (const x of ok) freq.set(x.pathway.length, (freq.get(x.pathway.length) ?? 0) + 1);
  let S = 0, best = 0;
  for (const [len, f] of freq) if (f > best || (f === best && len < S)) [S, best] = [len, f];
  const kept = ok.filter((x) => x.pathway.length === S);
  const n = kept.length;
  if (n === 0) return undefined;
  // Players: first-seen ids per stage, renumbered so that each stage's miners are in code-unit order.
  const seenAt = Array.from({ length: S }, () => new Map<string, number>());
  const ids = new Int32Array(n * S);
  kept.forEach((x, i) => x.pathway.forEach((m, s) => {
    const at = seenAt[s] as Map<string, number>;
    let id = at.get(m);
    if (id === undefined) at.set(m, (id = at.size));
    ids[i * S + s] = id;
  }));
  const names = seenAt.map((at) => [...at.keys()].sort(byCodeUnit));
  const stageStart = new Int32Array(S + 1);
  names.forEach((ms, s) => (stageStart[s + 1] = (stageStart[s] as number) + ms.length));
  const P = stageStart[S] as number;
  const rank = seenAt.map((at, s) => {
    const r = new Int32Array(at.size);
    (names[s] as string[]).forEach((m, j) => (r[at.get(m) as number] = (stageStart[s] as number) + j));
    return r;
  });
  for (let i = 0; i < n; i++) for (let s = 0; s < S; s++) ids[i * S + s] = (rank[s] as Int32Array)[ids[i * S + s] as number] as number;
  const cmp = (a: number, b: number): number => {
    const ka = kept[a] as PathwaySample, kb = kept[b] as PathwaySample;
    if (ka.step !== kb.step) return ka.step < kb.step ? -1 : 1;
    for (let s = 0; s < S; s++) if (ids[a * S + s] !== ids[b * S + s]) return (ids[a * S + s] as number) - (ids[b * S + s] as number);
    return ka.loss === kb.loss ? 0 : ka.loss < kb.loss ? -1 : 1;
  };
  const order = Array.from({ length: n }, (_, i) => i).sort(cmp);
  const loss = new Float64Array(n), step = new Float64Array(n), who = Array.from({ length: S }, () => new Int32Array(n));
  order.forEach((k, i) => {
    const x = kept[k] as PathwaySample;
    loss[i] = x.loss === 0 ? 0 : x.loss; // −0 and 0 sort equal; keep one of them
    step[i] = x.step;
    for (let s = 0; s < S; s++) (who[s] as Int32Array)[i] = ids[k * S + s] as number;
  });
  const M = Math.max(...names.map((ms) => ms.length));
  const target = Math.max(2, Math.floor(n / (PER_MINER_PER_BUCKET * M)));
  const starts = [0];
  for (let k = 1; k < target; k++) {
    let cut = Math.round((k * n) / target);
    while (cut < n && step[cut] === step[cut - 1]) cut++;
    if (cut < n && cut > (starts[starts.length - 1] as number)) starts.push(cut);
  }
  starts.push(n);
  const bucketStart = Int32Array.from(starts), B = bucketStart.length - 1;
  // Per-bucket sums, deduplicated through dense scratch rows that are reset after each bucket.
  const bucketLoss = new Float64Array(B), playerStart = new Int32Array(B + 1), pairStart = new Int32Array(B + 1);
  const player = new Int32Array(n * S), count = new Float64Array(n * S), lossSum = new Float64Array(n * S);
  const pairs = (n * S * (S - 1)) / 2, pairKey = new Int32Array(pairs), pairCount = new Float64Array(pairs);
  const pc = new Float64Array(P), pl = new Float64Array(P), cc = new Float64Array(P * P);
  let np = 0, nk = 0;
  for (let b = 0; b < B; b++) {
    const p0 = np, k0 = nk;
    for (let i = bucketStart[b] as number; i < (bucketStart[b + 1] as number); i++) {
      const li = loss[i] as number;
      bucketLoss[b] = (bucketLoss[b] as number) + li;
      for (let s = 0; s < S; s++) {
        const p = (who[s] as Int32Array)[i] as number;
        if (pc[p] === 0) player[np++] = p;
        pc[p] = (pc[p] as number) + 1;
        pl[p] = (pl[p] as number) + li;
        for (let t = s + 1; t < S; t++) {
          const key = p * P + ((who[t] as Int32Array)[i] as number);
          if (cc[key] === 0) pairKey[nk++] = key;
          cc[key] = (cc[key] as number) + 1;
        }
      }
    }
    for (let k = p0; k < np; k++) {
      const p = player[k] as number;
      count[k] = pc[p] as number;
      lossSum[k] = pl[p] as number;
      pc[p] = 0;
      pl[p] = 0;
    }
    for (let k = k0; k < nk; k++) {
      pairCount[k] = cc[pairKey[k] as number] as number;
      cc[pairKey[k] as number] = 0;
    }
    playerStart[b + 1] = np;
    pairStart[b + 1] = nk;
  }
  return {
    n, stages: S, stageStart, miners: names.flat(), loss, who, bucketStart, bucketLoss,
    playerStart, player: player.slice(0, np), count: count.slice(0, np), lossSum: lossSum.slice(0, np), pairStart, pairKey: pairKey.slice(0, nk), pairCount: pairCount.slice(0, nk),
  };
};

/** The weighted sums of one fit (allocated once, reused by every bootstrap replicate). */
interface Sums { readonly cnt: Float64Array; readonly lossOf: Float64Array; readonly co: Float64Array; readonly tauOf: Float64Array }

/**
 * Fixed-effects least squares ℓ_i = τ_bucket(i) + Σ_s α_{s, π_s(i)} + ε_i with bucket weights w
 * (bootstrap multiplicities; 0 leaves a bucket out), by backfitting (Hastie & Tibshirani 1990):
 * Gauss-Seidel over the blocks α_0 … α_{S−1}, τ, each set to the weighted mean of its partial
 * residual, until the largest change is below `tol` (or MAX_ITERATIONS sweeps). The partial
 * residual sums come from the bucket sums of the design: for player p of stage s,
 * Σ w·(ℓ − τ − Σ_{t≠s} α) = lossOf_p − Σ_b w_b n_bp τ_b − Σ_{q ∉ s} co_pq α_q. Warm-started from alpha
 * and tau, updated in place; leaves the weighted sample count of each player in sums.cnt.
 */
const backfit = (d: Design, w: Float64Array, alpha: Float64Array, tau: Float64Array, tol: number, sums: Sums): void => {
  const { stages: S, stageStart, bucketStart: bs, bucketLoss, playerStart, player, count, lossSum, pairStart, pairKey, pairCount } = d;
  const { cnt, lossOf, co, tauOf } = sums;
  const P = alpha.length, B = tau.length;
  cnt.fill(0);
  lossOf.fill(0);
  co.fill(0);
  for (let b = 0; b < B; b++) {
    const wb = w[b] as number;
    if (wb === 0) continue;
    for (let k = playerStart[b] as number; k < (playerStart[b + 1] as number); k++) {
      const p = player[k] as number;
      cnt[p] = (cnt[p] as number) + wb * (count[k] as number);
      lossOf[p] = (lossOf[p] as number) + wb * (lossSum[k] as number);
    }
    for (let k = pairStart[b] as number; k < (pairStart[b + 1] as number); k++) {
      const key = pairKey[k] as number;
      co[key] = (co[key] as number) + wb * (pairCount[k] as number);
    }
  }
  for (let p = 0; p < P; p++) for (let q = p + 1; q < P; q++) co[q * P + p] = co[p * P + q] as number;
  for (let it = 0; it < MAX_ITERATIONS; it++) {
    let change = 0;
    tauOf.fill(0);
    for (let b = 0; b < B; b++) {
      const wt = (w[b] as number) * (tau[b] as number);
      if (w[b] === 0) continue;
      for (let k = playerStart[b] as number; k < (playerStart[b + 1] as number); k++) {
        const p = player[k] as number;
        tauOf[p] = (tauOf[p] as number) + wt * (count[k] as number);
      }
    }
    for (let s = 0; s < S; s++) {
      const lo = stageStart[s] as number, hi = stageStart[s + 1] as number;
      for (let p = lo; p < hi; p++) {
        const c = cnt[p] as number;
        if (c === 0) continue;
        let other = 0;
        for (let q = 0; q < lo; q++) other += (co[p * P + q] as number) * (alpha[q] as number);
        for (let q = hi; q < P; q++) other += (co[p * P + q] as number) * (alpha[q] as number);
        const next = ((lossOf[p] as number) - (tauOf[p] as number) - other) / c;
        change = Math.max(change, Math.abs(next - (alpha[p] as number)));
        alpha[p] = next;
      }
    }
    for (let b = 0; b < B; b++) {
      if (w[b] === 0) continue;
      let fitted = 0;
      for (let k = playerStart[b] as number; k < (playerStart[b + 1] as number); k++) fitted += (count[k] as number) * (alpha[player[k] as number] as number);
      const next = ((bucketLoss[b] as number) - fitted) / ((bs[b + 1] as number) - (bs[b] as number));
      change = Math.max(change, Math.abs(next - (tau[b] as number)));
      tau[b] = next;
    }
    if (change < tol) break;
  }
};

/** The residual sum of squares of a fit on all samples. */
const rss = (d: Design, alpha: Float64Array, tau: Float64Array): number => {
  let total = 0;
  for (let b = 0; b + 1 < d.bucketStart.length; b++) {
    for (let i = d.bucketStart[b] as number; i < (d.bucketStart[b + 1] as number); i++) {
      let r = (d.loss[i] as number) - (tau[b] as number);
      for (const ws of d.who) r -= alpha[ws[i] as number] as number;
      total += r * r;
    }
  }
  return total;
};

/** Contribution of each player from a fit: ᾱ_s − α_p, ᾱ_s the count-weighted mean at its stage; 0 when alone at its stage, NaN when absent. */
const contributions = (d: Design, alpha: Float64Array, cnt: Float64Array, out: Float64Array): void => {
  for (let s = 0; s < d.stages; s++) {
    const lo = d.stageStart[s] as number, hi = d.stageStart[s + 1] as number;
    let tot = 0, wsum = 0, present = 0;
    for (let p = lo; p < hi; p++) {
      const c = cnt[p] as number;
      if (c > 0) present++;
      tot += c;
      wsum += c * (alpha[p] as number);
    }
    const mean = wsum / tot;
    for (let p = lo; p < hi; p++) out[p] = (cnt[p] as number) > 0 ? (present === 1 ? 0 : mean - (alpha[p] as number)) : Number.NaN;
  }
};

/** Φ⁻¹(p): Acklam's rational approximation (relative error < 1.2e-9), enough for interval ends. */
const normalQuantile = (p: number): number => {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const e = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const poly = (k: readonly number[], x: number): number => k.reduce((acc, v) => acc * x + v, 0);
  const tail = (q: number): number => poly(c, q) / (poly(e, q) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5, r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
};

/** Quantile of sorted values, linear interpolation between order statistics (Hyndman & Fan type 7). */
const quantile = (xs: Float64Array, q: number): number => {
  const h = (xs.length - 1) * q, lo = Math.floor(h);
  const x0 = xs[lo] as number;
  return lo + 1 < xs.length ? x0 + (h - lo) * ((xs[lo + 1] as number) - x0) : x0;
};

/** Median of `xs`. */
const median = (xs: readonly number[]): number => quantile(Float64Array.from(xs).sort(), 0.5);

/**
 * Scores every miner: contribution = E[L] − E[L | miner] (its average Shapley value over stages as
 * players when routing is independent; see shapley.ts), estimated by fixed-effects least squares
 * with one effect per time bucket (so a falling loss does not credit late joiners) and one per
 * (stage, miner), each stage's effects centred on their sample-weighted mean. `ci` is the union of
 * a cluster-bootstrap percentile interval (buckets resampled with replacement and refitted; seeded
 * with rngFor(seed, "clasp-bootstrap")) and the normal interval ±z·σ̂·√((1 − share)/samples): a miner
 * seen in one or two buckets shows almost no variation when buckets are resampled, and the normal
 * interval keeps its noise in view. Flags need minSamples samples and residual degrees of freedom:
 * harmful when the upper bound is below −δ at Holm's corrected level over the stage's miners (so
 * ci[1] < −δ too); outlier when, among ≥ 3 stage-mates with MAD > 0, 0.6745·(ψ − median)/MAD < −3.5,
 * ψ < −δ, and the Bonferroni upper bound is below median − δ (else an honest miner with few samples,
 * merely noisy beside precise mates, is one). Fits stop once no effect moves by
 * 1e-9·max(1, max |loss|). Cost: O(n·S²) once, then O(n·S² + sweeps·(P² + n·S/8)) per replicate
 * for P (stage, miner) players, with a P×P table of co-occurrences.
 *
 * Skipped samples: non-finite loss or step, or a pathway whose length is not the most common one.
 * Keys are inserted in code-unit order (JavaScript lists integer-like keys first). A miner seen at
 * two stages is scored at the stage where it has most samples (ties: lowest stage).
 */
export const clasp = (samples: readonly PathwaySample[], o: ClaspOptions): Record<string, MinerScore> => {
  const replicates = o.bootstrap ?? CLASP_DEFAULTS.bootstrap, confidence = o.confidence ?? CLASP_DEFAULTS.confidence;
  const delta = o.delta ?? CLASP_DEFAULTS.delta, minSamples = o.minSamples ?? CLASP_DEFAULTS.minSamples;
  if (!Number.isInteger(replicates) || replicates < 0) throw new RangeError(`bootstrap must be an integer >= 0, got ${replicates}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  if (!(delta >= 0 && Number.isFinite(delta))) throw new RangeError(`delta must be finite and >= 0, got ${delta}`);
  const d = design(samples);
  if (d === undefined) return {};
  const { n, stages: S, stageStart, loss } = d;
  const P = stageStart[S] as number, B = d.bucketStart.length - 1;
  let scale = 1;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(loss[i] as number));
  const sums: Sums = { cnt: new Float64Array(P), lossOf: new Float64Array(P), co: new Float64Array(P * P), tauOf: new Float64Array(P) };
  const tol = 1e-9 * scale;

  // The fit on all buckets, from α = 0, τ = 0.
  const alpha = new Float64Array(P), tau = new Float64Array(B);
  backfit(d, new Float64Array(B).fill(1), alpha, tau, tol, sums);
  const samplesOf = sums.cnt.slice(), psi = new Float64Array(P);
  contributions(d, alpha, samplesOf, psi);
  const dof = n - B - (P - S);
  const sigma = dof > 0 ? Math.sqrt(rss(d, alpha, tau) / dof) : 0;

  // Cluster bootstrap over buckets, each replicate refitted from the full fit (a warm start).
  const boot = new Float64Array(P * replicates), w = new Float64Array(B), a = new Float64Array(P), t = new Float64Array(B), one = new Float64Array(P);
  const rng = rngFor(o.seed, "clasp-bootstrap");
  for (let k = 0; k < replicates; k++) {
    w.fill(0);
    for (let j = 0; j < B; j++) {
      const b = rng.int(B);
      w[b] = (w[b] as number) + 1;
    }
    a.set(alpha);
    t.set(tau);
    backfit(d, w, a, t, tol, sums);
    contributions(d, a, sums.cnt, one);
    for (let p = 0; p < P; p++) boot[p * replicates + k] = one[p] as number;
  }

  // Intervals: the bootstrap percentiles, widened to the normal interval wherever that is wider.
  const sorted = Array.from({ length: P }, (_, p) => boot.subarray(p * replicates, (p + 1) * replicates).filter((x) => !Number.isNaN(x)).sort());
  const interval = (p: number, tail: number): [number, number] => {
    const c = psi[p] as number, b = sorted[p] as Float64Array, np = samplesOf[p] as number;
    const half = normalQuantile(1 - tail) * sigma * Math.sqrt(Math.max(0, 1 - np / n) / np);
    const [lo, hi] = b.length >= 2 ? [quantile(b, tail), quantile(b, 1 - tail)] : [c, c];
    return [Math.min(lo, c - half), Math.max(hi, c + half)];
  };
  const tail = (1 - confidence) / 2;

  // Each miner is reported at its busiest stage (ties: the lowest).
  const home = new Map<string, number>();
  for (let p = 0; p < P; p++) {
    const m = d.miners[p] as string, q = home.get(m);
    if (q === undefined || (samplesOf[p] as number) > (samplesOf[q] as number)) home.set(m, p);
  }
  const reported = new Set(home.values());
  const stageOf = (p: number): number => stageStart.findIndex((_, s) => (stageStart[s + 1] ?? Number.POSITIVE_INFINITY) > p);

  // Flags, per stage over its k flaggable miners. Harmful: Holm's step-down (Holm 1979), at level
  // tail/(k − r) once r are flagged, on "upper bound < −δ". Outlier: a robust z below −3.5 among
  // the stage's miners with minSamples samples, and an upper bound (at tail/k) below median − δ.
  const flagged = new Set<number>();
  for (let s = 0; s < S && dof > 0; s++) {
    const family: number[] = [], mates: number[] = [];
    for (let p = stageStart[s] as number; p < (stageStart[s + 1] as number); p++) {
      if ((samplesOf[p] as number) < minSamples) continue;
      mates.push(psi[p] as number);
      if (reported.has(p)) family.push(p);
    }
    const k = family.length;
    for (let r = 0, grew = true; grew;) {
      grew = false;
      for (const p of family) {
        if (flagged.has(p) || interval(p, tail / (k - r))[1] >= -delta) continue;
        flagged.add(p);
        r++;
        grew = true;
      }
    }
    if (mates.length < 3) continue;
    const med = median(mates), mad = median(mates.map((x) => Math.abs(x - med)));
    for (const p of family) {
      const x = psi[p] as number;
      if (mad > 0 && (0.6745 * (x - med)) / mad < OUTLIER_Z && x < -delta && interval(p, tail / k)[1] < med - delta) flagged.add(p);
    }
  }
  const out = [...home.entries()].sort((x, y) => byCodeUnit(x[0], y[0])).map(([m, p]): [string, MinerScore] => {
    const [lo, hi] = interval(p, tail);
    return [m, { stage: stageOf(p), contribution: psi[p] as number, ci: [lo, hi], samples: samplesOf[p] as number, flagged: flagged.has(p) }];
  });
  return Object.fromEntries(out);
};

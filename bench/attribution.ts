// `npm run bench -- attribution [--runs R] [--games G] [--miners N] [--microbatches M]`: how well the
// validator attributes and pays, and how fast an auditor re-derives it. (a) R seeded pure-simulator
// runs (12 miners over 3 stages, 120 microbatches, two scoring windows) with one or two adversaries
// of every kind: detection rate, false-flag rate, the adversaries' share of the last payout;
// (b) CLASP against exact Shapley values on G seeded synthetic stage games (Spearman rank
// correlation); (c) audit events/s (auditDecisions + auditScorer) over a large pure-sim log;
// (d) per-miner samples until the CLASP interval's half-width is below 0.05. Writes
// bench/results/attribution.json; prints each target and whether it is met.
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import type { SwarmFact } from "../src/events/swarm/index.js";
import { setAutoFreeze } from "immer";
import { auditDecisions, foldViews } from "../src/machines/orchestrator/index.js";
import { rngFor, type Rng } from "../src/machines/protocol/index.js";
import { auditScorer, clasp, exactContributions, type PathwaySample, type ScoringSettings, type StageGame } from "../src/machines/scorer/index.js";
import { ADVERSARY_KINDS, type AdversaryKind, type SimOptions, simulate } from "../src/machines/sim/index.js";

const VALIDATOR = "validator";

const arg = (args: string[], name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
};
const log = (s: string): void => { process.stderr.write(`${s}\n`); };
const r4 = (x: number): number => Math.round(x * 10_000) / 10_000;
const id = (i: number): string => `m${String(i).padStart(2, "0")}`;

/** A scored pure swarm: `n` miners joining stages 0, 1, 2, 0, ... (miner i at stage i mod 3), a window every `window` microbatches. */
const swarm = (seed: string, n: number, microbatches: number, window: number, adversaries: Readonly<Record<string, AdversaryKind>>): SimOptions => {
  const settings: ScoringSettings = {
    window, delta: 0.02, confidence: 0.95, bootstrap: 100, spotPerMiner: 2, reduceRate: 1, burn: 0, owner: "owner",
    metagraph: [{ hotkey: "owner", uid: 0 }, ...Array.from({ length: n }, (_, i) => ({ hotkey: id(i), uid: i + 1 }))],
  };
  return {
    config: {
      run: "bench", seed, model: { kind: "fake" }, params: [64, 64, 64],
      schedule: {
        totalMicrobatches: microbatches, datasetBatches: 60, tokensPerMicrobatch: 128, maxInFlight: 6, leaseTicks: 30, heartbeatTimeoutTicks: 6,
        heartbeatEveryTicks: 2, mergeEvery: 12, bMin: 2, partitions: 4, mergeGatherTicks: 4, mergeDeadlineTicks: 10, microbatchesPerStep: 1, overlapMerges: true, routing: "proportional", mergeInterval: "fixed",
      },
    },
    miners: Array.from({ length: n }, (_, i) => ({ id: id(i), capacity: 2 })),
    maxTicks: 40 * microbatches,
    adversaries,
    validator: { id: VALIDATOR, settings },
  };
};

/**
 * Run r's adversaries: kind r mod 6; a colluding pair is m03 + m06 (both stage 0, so they reduce
 * partitions together); every other run of six adds a second adversary of the next kind at
 * another stage (noise instead of colluding).
 */
export const adversariesOf = (r: number): Record<string, AdversaryKind> => {
  const kind = ADVERSARY_KINDS[r % ADVERSARY_KINDS.length] as AdversaryKind;
  if (kind === "colluding") return { m03: kind, m06: kind };
  const first = at(kind, 1 + ((r * 5) % 11));
  if (Math.floor(r / ADVERSARY_KINDS.length) % 2 === 0) return { [first]: kind };
  const next = ADVERSARY_KINDS[(r + 1) % ADVERSARY_KINDS.length] as AdversaryKind;
  const second = at(next, 1 + (((r * 5) % 11) + 4) % 11); // 4 apart mod 11: another stage
  return second === first ? { [first]: kind } : { [first]: kind, [second]: next === "colluding" ? "noise" : next };
};

/**
 * Miner i as an adversary of `kind`. A "scaled" miner scales the gradients it sends upstream, and
 * stage 0 (miner i joins stage i mod 3) sends none: there it would be an honest miner, so it is
 * placed one further, at stage 1.
 */
const at = (kind: AdversaryKind, i: number): string => id(kind === "scaled" && i % 3 === 0 ? i + 1 : i);

/** (a) Detection, false flags and the adversaries' last-window share over `runs` seeded runs. */
const detection = (runs: number) => {
  const perKind: Record<string, { detected: number; runs: number }> = Object.fromEntries(ADVERSARY_KINDS.map((k) => [k, { detected: 0, runs: 0 }]));
  let adversaries = 0, detected = 0, honest = 0, falseFlags = 0, shareSum = 0, audited = 0;
  const shares: number[] = [];
  for (let r = 0; r < runs; r++) {
    const bad = adversariesOf(r);
    const res = simulate(swarm(`attribution-${r + 1}`, 12, 120, 60, bad));
    const flagged = new Set<string>();
    let last: Extract<SwarmFact, { type: "WeightsProposed" }> | undefined;
    for (const f of res.log) {
      if (f.actor !== VALIDATOR) continue;
      if (f.type === "MinerFlagged") flagged.add(f.payload.miner);
      if (f.type === "WeightsProposed") last = f;
    }
    for (const [m, kind] of Object.entries(bad)) {
      adversaries += 1;
      (perKind[kind] as { runs: number }).runs += 1;
      if (flagged.has(m)) {
        detected += 1;
        (perKind[kind] as { detected: number }).detected += 1;
      }
    }
    for (let i = 0; i < 12; i++) {
      if (id(i) in bad) continue;
      honest += 1;
      if (flagged.has(id(i))) falseFlags += 1;
    }
    const share = (last?.payload.entries ?? []).filter((e) => e.hotkey in bad).reduce((t, e) => t + e.share, 0);
    shares.push(r4(share));
    shareSum += share;
    if (auditDecisions(res.log).length === 0 && auditScorer(res.log, VALIDATOR).findings.length === 0) audited += 1;
    log(`run ${r + 1}: ${JSON.stringify(bad)} flagged [${[...flagged].sort().join(", ")}] adversary share ${share.toFixed(4)}${res.state.done ? "" : " (did not complete)"}`);
  }
  return { detection_rate: detected / adversaries, false_flag_rate: falseFlags / honest, adversary_weight_share: shareSum / runs, perKind, shares, adversaries, honest, audited };
};

/** A seeded stage game: additive miner effects, pairwise interactions and (when sampling) noise over a falling loss. */
const game = (seed: string, stages: number, miners: number) => {
  const r = rngFor(seed, "game");
  const players = Array.from({ length: stages }, (_, s) => Array.from({ length: miners }, (_, j) => `s${s}m${j}`));
  const effect = new Map(players.flat().map((m) => [m, 0.2 * (r.float() - 0.5)]));
  const inter = new Map<string, number>();
  for (let s = 0; s + 1 < stages; s++) for (const a of players[s] as string[]) for (const b of players[s + 1] as string[]) inter.set(`${a}|${b}`, 0.04 * (r.float() - 0.5));
  const loss = (p: readonly string[]): number => {
    let l = 2;
    p.forEach((m, s) => { l += effect.get(m) ?? 0; if (s > 0) l += inter.get(`${p[s - 1]}|${m}`) ?? 0; });
    return l;
  };
  const g: StageGame = { players, loss };
  /** `n` samples: uniform independent routing, 3 per step, Gaussian noise σ over a trend falling with the step. */
  const sample = (n: number, sigma: number, rng: Rng): PathwaySample[] =>
    Array.from({ length: n }, (_, i) => {
      const pathway = players.map((ms) => ms[rng.int(ms.length)] as string);
      const step = Math.floor(i / 3);
      const noise = sigma * Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());
      return { pathway, loss: loss(pathway) + 0.5 * Math.exp(-step / 400) + noise, step };
    });
  return { g, sample };
};

const ranks = (xs: readonly number[]): number[] => {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && (order[j + 1] as readonly [number, number])[0] === (order[i] as readonly [number, number])[0]) j++;
    for (let k = i; k <= j; k++) out[(order[k] as readonly [number, number])[1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
};

/** Spearman's rank correlation: Pearson's on the (tie-averaged) ranks. */
export const spearman = (a: readonly number[], b: readonly number[]): number => {
  const ra = ranks(a), rb = ranks(b), n = a.length;
  const ma = ra.reduce((t, x) => t + x, 0) / n, mb = rb.reduce((t, x) => t + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = (ra[i] as number) - ma, db = (rb[i] as number) - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
};

/** (b) CLASP vs exact Shapley on `games` seeded 3-stage × 4-miner games, 3,000 samples each (σ 0.2). */
const rankCorrelation = (games: number) => {
  const corrs: number[] = [];
  for (let k = 0; k < games; k++) {
    const { g, sample } = game(`shapley-${k}`, 3, 4);
    const exact = exactContributions(g);
    const est = clasp(sample(3000, 0.2, rngFor(`shapley-${k}`, "samples")), { seed: `shapley-${k}`, bootstrap: 50 });
    const miners = Object.keys(exact);
    corrs.push(spearman(miners.map((m) => exact[m] as number), miners.map((m) => est[m]?.contribution ?? Number.NaN)));
  }
  return { mean: corrs.reduce((t, x) => t + x, 0) / corrs.length, corrs: corrs.map(r4) };
};

/** (c) Facts per second of auditDecisions + auditScorer over one large pure-sim log (facts already decoded). */
const auditSpeed = (miners: number, microbatches: number) => {
  const t0 = performance.now();
  const res = simulate(swarm("audit-speed", miners, microbatches, Math.max(60, Math.floor(microbatches / 4)), {}));
  log(`audit log: ${res.log.length} facts from ${miners} miners, ${microbatches} microbatches (simulated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  let best = 0, decisionsEps = 0, scorerEps = 0;
  for (let rep = 0; rep < 3; rep++) {
    // One fold of the orchestrator's view serves both audits (as `swarmline audit` does).
    const a = performance.now();
    const views = foldViews(res.log);
    const fd = auditDecisions(res.log, views);
    const b = performance.now();
    const fs = auditScorer(res.log, VALIDATOR, views).findings;
    const c = performance.now();
    if (fd.length + fs.length > 0) throw new Error(`the audit log does not re-derive: ${JSON.stringify([...fd, ...fs][0])}`);
    const eps = res.log.length / ((c - a) / 1000);
    log(`audit rep ${rep + 1}: ${eps.toFixed(0)} facts/s (decisions ${(b - a).toFixed(0)} ms, scorer ${(c - b).toFixed(0)} ms)`);
    if (eps > best) [best, decisionsEps, scorerEps] = [eps, res.log.length / ((b - a) / 1000), res.log.length / ((c - b) / 1000)];
  }
  return { eps: best, facts: res.log.length, decisionsEps, scorerEps };
};

/** (d) The median over miners of their sample count at the first size where CLASP's half-width is below 0.05. */
const samplesForCi = () => {
  const { sample } = game("ci-width", 3, 4);
  const all = sample(6000, 0.2, rngFor("ci-width", "samples"));
  const reached = new Map<string, number>();
  for (let n = 60; n <= all.length && reached.size < 12; n = Math.ceil(n * 1.15)) {
    const scores = clasp(all.slice(0, n), { seed: "ci-width", bootstrap: 100 });
    for (const [m, s] of Object.entries(scores)) if (!reached.has(m) && (s.ci[1] - s.ci[0]) / 2 < 0.05) reached.set(m, s.samples);
  }
  const xs = [...reached.values()].sort((a, b) => a - b);
  const median = xs.length === 0 ? Number.NaN : xs.length % 2 === 1 ? (xs[(xs.length - 1) / 2] as number) : ((xs[xs.length / 2 - 1] as number) + (xs[xs.length / 2] as number)) / 2;
  return { median, reached: xs.length, perMiner: xs };
};

/** Runs the attribution benchmark and writes bench/results/attribution.json. */
export const run = async (args: string[]): Promise<void> => {
  const runs = arg(args, "runs", 24);
  const games = arg(args, "games", 8);
  const miners = arg(args, "miners", 12);
  const microbatches = arg(args, "microbatches", 480);
  const load = loadavg().map(r4);
  const det = detection(runs);
  const corr = rankCorrelation(games);
  log(`CLASP vs exact Shapley, Spearman per game: ${corr.corrs.join(", ")}`);
  // As `swarmline audit` does: its folds are only read, so immer need not freeze them.
  setAutoFreeze(false);
  const speed = auditSpeed(miners, microbatches);
  setAutoFreeze(true);
  const ci = samplesForCi();
  log(`samples per miner for a CI half-width < 0.05: ${ci.perMiner.join(", ")} (median ${ci.median})`);
  const out = {
    ratios: {
      detection_rate: r4(det.detection_rate),
      false_flag_rate: r4(det.false_flag_rate),
      adversary_weight_share: r4(det.adversary_weight_share),
      shapley_rank_corr: r4(corr.mean),
    },
    figures: {
      audit_eps: Math.round(speed.eps),
      samples_per_miner_for_ci_0_05: ci.median,
      runs,
      seeds: Array.from({ length: runs }, (_, r) => `attribution-${r + 1}`),
      per_kind: det.perKind,
      adversaries: det.adversaries,
      honest_miners: det.honest,
      runs_that_audit_clean: det.audited,
      adversary_weight_share_per_run: det.shares,
      shapley_rank_corr_per_game: corr.corrs,
      audit_log_facts: speed.facts,
      audit_decisions_eps: Math.round(speed.decisionsEps),
      audit_scorer_eps: Math.round(speed.scorerEps),
      samples_per_miner_for_ci_0_05_per_miner: ci.perMiner,
      setup: {
        detection: { miners: 12, stages: 3, microbatches: 120, window: 60, delta: 0.02, confidence: 0.95, bootstrap: 100, spotPerMiner: 2 },
        shapley: { games, stages: 3, minersPerStage: 4, samples: 3000, sigma: 0.2, bootstrap: 50 },
        audit: { miners, microbatches, window: Math.max(60, Math.floor(microbatches / 4)) },
        ci: { stages: 3, minersPerStage: 4, sigma: 0.2, bootstrap: 100, confidence: 0.95 },
      },
      load_average: load,
    },
  };
  const targets: [string, boolean, string][] = [
    ["detection_rate >= 0.95", out.ratios.detection_rate >= 0.95, String(out.ratios.detection_rate)],
    ["false_flag_rate <= 0.01", out.ratios.false_flag_rate <= 0.01, String(out.ratios.false_flag_rate)],
    ["adversary_weight_share <= 0.01", out.ratios.adversary_weight_share <= 0.01, String(out.ratios.adversary_weight_share)],
    ["shapley_rank_corr >= 0.9", out.ratios.shapley_rank_corr >= 0.9, String(out.ratios.shapley_rank_corr)],
    ["audit_eps >= 50000", out.figures.audit_eps >= 50_000, String(out.figures.audit_eps)],
  ];
  for (const [what, ok, value] of targets) process.stdout.write(`${ok ? "pass" : "FAIL"}  ${what}: ${value}\n`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/attribution.json", `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(out.ratios)} audit_eps ${out.figures.audit_eps} samples_per_miner_for_ci_0_05 ${out.figures.samples_per_miner_for_ci_0_05}\nwrote bench/results/attribution.json\n`);
};

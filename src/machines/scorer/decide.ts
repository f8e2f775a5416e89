// decideScorer(command, state): a validator's decisions. Level-triggered like the orchestrator's:
// `Advance` returns every fact the folded state calls for now (a closed window's draw; a drawn
// window whose every check has a verdict: its scores, flags and payout), so an auditor folding the
// log re-derives each of them at its basis. Verdicts are the host's measurements (it re-executed
// the work): `Verdict` only checks they answer a drawn check once.
import { Result } from "effect";
import { type SwarmFact, type SwarmPayloads, swarmVersion } from "../../events/swarm/index.js";
import type { OrchestratorState } from "../orchestrator/index.js";
import { byCodeUnit } from "../protocol/index.js";
import { clasp } from "./clasp.js";
import { drawChecks } from "./draw.js";
import { evolveScorer } from "./evolve.js";
import { type MinerResult, payout } from "./payout.js";
import type { ScorerState, ScoringSettings, WindowState } from "./state.js";

export type ScorerCommand =
  /** Record the validator's settings (its first fact). */
  | { readonly type: "StartScoring"; readonly settings: ScoringSettings }
  /** Record the measured outcome of check `check` of window `window`. */
  | { readonly type: "RecordVerdict"; readonly window: number; readonly check: number; readonly passed: boolean; readonly distance: number; readonly detail: string }
  /** Everything the folded state calls for now. */
  | { readonly type: "Advance" };

export type ScorerRejection =
  | { readonly _tag: "NotStarted" }
  | { readonly _tag: "AlreadyStarted" }
  | { readonly _tag: "InvalidSettings"; readonly reason: string }
  | { readonly _tag: "UnknownCheck"; readonly window: number; readonly check: number }
  | { readonly _tag: "AlreadyJudged"; readonly window: number; readonly check: number };

type ScorerType = "ScoringStarted" | "SpotChecksDrawn" | "SpotCheckPassed" | "SpotCheckFailed" | "ContributionScored" | "MinerFlagged" | "WeightsProposed";
type Proposal = { readonly [T in ScorerType]: { readonly type: T; readonly payload: SwarmPayloads[T]; readonly cause: readonly string[] } }[ScorerType];

/** A decision ready for the envelope: id `${run}:v:${validator}:${seq}`, cause[0] the basis. */
export interface ScorerDecision {
  readonly id: string;
  readonly type: ScorerType;
  readonly v: number;
  readonly step: number;
  readonly cause: readonly string[];
  readonly payload: SwarmPayloads[ScorerType];
}

const seqOf = (s: ScorerState): number => s.seqs[s.me] ?? 0;

const decision = (s: ScorerState, seq: number, basis: string | null, step: number, p: Proposal): ScorerDecision => ({
  id: `${s.config?.run ?? ""}:v:${s.me}:${seq}`,
  type: p.type, v: swarmVersion(p.type), step,
  cause: [...new Set([...(basis === null ? [] : [basis]), ...p.cause])],
  payload: p.payload,
});

/** A decision as the fact it becomes once the validator appends it at `seq`. */
export const asScorerFact = (d: ScorerDecision, actor: string, seq: number): SwarmFact =>
  ({ id: d.id, type: d.type, actor, seq, step: d.step, cause: d.cause, payload: d.payload }) as SwarmFact;

const validate = (o: ScoringSettings): string | undefined => {
  if (!(Number.isInteger(o.window) && o.window >= 1)) return "window must be an integer >= 1";
  if (!(o.delta >= 0 && Number.isFinite(o.delta))) return "delta must be >= 0";
  if (!(o.confidence > 0 && o.confidence < 1)) return "confidence must be in (0, 1)";
  if (!(Number.isInteger(o.bootstrap) && o.bootstrap >= 10)) return "bootstrap must be an integer >= 10";
  if (o.minSamples !== undefined && !(Number.isInteger(o.minSamples) && o.minSamples >= 1)) return "minSamples must be an integer >= 1";
  if (!(Number.isInteger(o.spotPerMiner) && o.spotPerMiner >= 0)) return "spotPerMiner must be an integer >= 0";
  if (!(o.reduceRate >= 0 && o.reduceRate <= 1)) return "reduceRate must be in [0, 1]";
  if (!(o.burn >= 0 && o.burn <= 1)) return "burn must be in [0, 1]";
  return undefined;
};

/**
 * Microbatches a miner needs in a window before CLASP alone may flag it (ScoringStarted.minSamples
 * when given): with fewer, honest miners' differences early in training look significant.
 */
export const MIN_SAMPLES = 10;

/** Miners whose pipeline work failed a spot check in the window. */
const spotFailures = (w: WindowState): Set<string> =>
  new Set((w.checks ?? []).flatMap((c, i) => (c.kind !== "reduce" && w.verdicts[i]?.passed === false ? [c.miner] : [])));

/** Miners flagged in a window and why (first reason per miner wins, in this order). */
export const flagsOf = (s: ScorerState, w: WindowState, scores: ReturnType<typeof clasp>): Map<string, { reason: SwarmPayloads["MinerFlagged"]["reason"]; detail: string }> => {
  const flags = new Map<string, { reason: SwarmPayloads["MinerFlagged"]["reason"]; detail: string }>();
  const flag = (m: string, reason: SwarmPayloads["MinerFlagged"]["reason"], detail: string): void => {
    if (m !== "" && !flags.has(m)) flags.set(m, { reason, detail });
  };
  (w.checks ?? []).forEach((c, i) => {
    const v = w.verdicts[i];
    if (v === undefined || v.passed) return;
    // A wrong reduction that was accepted had every reducer claiming it agree: all of them are caught.
    const who = c.kind === "reduce" ? w.accepted.find((p) => p.merge === c.subject && p.partition === c.partition)?.reducers ?? [c.miner] : [c.miner];
    for (const m of who) flag(m, "spot-check", `${c.kind} check of ${c.subject}${c.partition === null ? "" : ` partition ${c.partition}`} failed (distance ${v.distance})`);
  });
  for (const r of w.wrongReducers) flag(r.miner, "wrong-reduction", r.detail);
  // Caught cheating in an earlier window: flagged again in every window it still serves in.
  for (const m of Object.keys(scores).sort(byCodeUnit)) {
    const c = s.caught[m];
    if (c !== undefined && c.window < w.index) flag(m, c.reason, `caught in window ${c.window}: ${c.detail}`);
  }
  const delta = s.settings?.delta ?? 0;
  for (const m of Object.keys(scores).sort(byCodeUnit)) {
    const sc = scores[m];
    if (sc === undefined || !sc.flagged) continue;
    flag(m, sc.ci[1] < -delta ? "harmful" : "outlier", `contribution ${sc.contribution.toFixed(4)} [${sc.ci[0].toFixed(4)}, ${sc.ci[1].toFixed(4)}] over ${sc.samples} microbatches`);
  }
  return flags;
};

/** The facts that score a window: contributions (miner order), flags (miner order), the payout. */
const scoreWindow = (s: ScorerState, w: WindowState): Proposal[] => {
  const settings = s.settings as ScoringSettings;
  const cause = w.drawId === null ? [] : [w.drawId];
  const o = { seed: `${s.config?.seed ?? ""}|${s.me}|${w.index}`, bootstrap: settings.bootstrap, confidence: settings.confidence, delta: settings.delta, minSamples: settings.minSamples ?? MIN_SAMPLES };
  // Pathways through a miner caught re-executing wrongly say nothing about its stage-mates' work
  // (routing may have paired one of them with it far more than chance): CLASP fits the rest, and
  // the caught miners' own contributions come from the fit over every pathway.
  const caught = spotFailures(w);
  const all = clasp(w.samples, o);
  const clean = caught.size === 0 ? all : clasp(w.samples.filter((x) => !x.pathway.some((m) => caught.has(m))), o);
  const scores: ReturnType<typeof clasp> = {};
  for (const m of Object.keys(all).sort(byCodeUnit)) scores[m] = (caught.has(m) ? all[m] : clean[m] ?? all[m]) as ReturnType<typeof clasp>[string];
  const flags = flagsOf(s, w, scores);
  const out: Proposal[] = [];
  const results: Record<string, MinerResult> = {};
  for (const m of Object.keys(scores).sort(byCodeUnit)) {
    const sc = scores[m];
    if (sc === undefined) continue;
    out.push({ type: "ContributionScored", payload: { window: w.index, miner: m, stage: sc.stage, contribution: sc.contribution, lo: sc.ci[0], hi: sc.ci[1], samples: sc.samples }, cause });
    results[m] = { samples: sc.samples, contribution: sc.contribution, flagged: flags.has(m) };
  }
  for (const m of [...flags.keys()].sort(byCodeUnit)) {
    const f = flags.get(m) as { reason: SwarmPayloads["MinerFlagged"]["reason"]; detail: string };
    out.push({ type: "MinerFlagged", payload: { window: w.index, miner: m, reason: f.reason, detail: f.detail }, cause });
    if (results[m] === undefined) results[m] = { samples: 0, contribution: 0, flagged: true };
  }
  let sum = 0;
  for (const x of w.samples) sum += x.loss;
  const meanLoss = w.samples.length > 0 ? sum / w.samples.length : 0;
  out.push({ type: "WeightsProposed", payload: { window: w.index, entries: payout(results, meanLoss, settings) }, cause });
  return out;
};

/** The next batch the state calls for: the earliest undrawn closed window's draw, else the earliest fully judged window's scores. */
export const nextProposals = (s: ScorerState): Proposal[] => {
  if (s.settings === null || s.config === null) return [];
  for (const w of s.windows) {
    if (w.closedBy !== null && w.checks === null)
      return [{ type: "SpotChecksDrawn", payload: { window: w.index, beacon: w.closedBy.beacon, checks: drawChecks(s, w, w.closedBy.beacon) }, cause: [w.closedBy.id] }];
    if (w.checks !== null && !w.scored && Object.keys(w.verdicts).length === w.checks.length) return scoreWindow(s, w);
  }
  return [];
};

/** Decides a command against the folded state (and the orchestrator's view, for folding its own decisions). */
export const decideScorer = (command: ScorerCommand, s: ScorerState, view: OrchestratorState): Result.Result<ScorerDecision[], ScorerRejection> => {
  if (s.config === null) return Result.fail({ _tag: "NotStarted" });
  const seq = seqOf(s) + 1;
  if (command.type === "StartScoring") {
    if (s.settings !== null || seqOf(s) > 0) return Result.fail({ _tag: "AlreadyStarted" });
    const reason = validate(command.settings);
    if (reason !== undefined) return Result.fail({ _tag: "InvalidSettings", reason });
    return Result.succeed([decision(s, seq, s.lastId, view.tick, { type: "ScoringStarted", payload: command.settings, cause: [] })]);
  }
  if (command.type === "RecordVerdict") {
    const w = s.windows[command.window];
    const c = w?.checks?.[command.check];
    if (w === undefined || c === undefined || w.drawId === null) return Result.fail({ _tag: "UnknownCheck", window: command.window, check: command.check });
    if (w.verdicts[command.check] !== undefined) return Result.fail({ _tag: "AlreadyJudged", window: command.window, check: command.check });
    const payload = { window: command.window, check: command.check, miner: c.miner, distance: command.distance, detail: command.detail };
    return Result.succeed([decision(s, seq, s.lastId, view.tick, { type: command.passed ? "SpotCheckPassed" : "SpotCheckFailed", payload, cause: [w.drawId] })]);
  }
  const out: ScorerDecision[] = [];
  const basis = s.lastId;
  let st = s;
  for (let n = seq; out.length < 100_000; ) {
    const ps = nextProposals(st);
    if (ps.length === 0) break;
    for (const p of ps) {
      const d = decision(s, n, basis, view.tick, p);
      out.push(d);
      st = evolveScorer(st, asScorerFact(d, s.me, n), view);
      n += 1;
    }
  }
  return Result.succeed(out);
};

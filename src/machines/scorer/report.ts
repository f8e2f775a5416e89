// The auditor's report of a swarm log, a pure function of its facts: every orchestrator decision
// re-derived, the schedule's invariants, every validator's decisions re-derived, the first fact
// that diverges, and per validator a table of the miners (stage, microbatches served,
// contribution ± CI, spot checks, flags, payout) read from the facts the audit just re-derived.
import type { SwarmFact, SwarmPayloads } from "../../events/swarm/index.js";
import { type AuditFinding, auditDecisions, checkInvariants, foldViews, isInput, type ScheduleReport } from "../orchestrator/index.js";
import { byCodeUnit } from "../protocol/index.js";
import { auditScorer, SCORER_DECISIONS, validatorsOf } from "./audit.js";

/** A miner's CLASP score in one window, as its ContributionScored recorded it. */
export interface WindowScore {
  readonly window: number;
  readonly contribution: number;
  readonly lo: number;
  readonly hi: number;
  readonly samples: number;
}

export interface MinerFlag {
  readonly window: number;
  readonly reason: SwarmPayloads["MinerFlagged"]["reason"];
  readonly detail: string;
}

/** One row of a validator's table. */
export interface MinerRow {
  /** The stage the orchestrator last assigned it (else the one its scores name), or null. */
  readonly stage: number | null;
  /** Completed microbatches whose pathway went through it. */
  readonly microbatches: number;
  /**
   * Over the run: the sample-weighted mean of its window contributions, with an interval whose
   * half-widths combine the windows' as independent estimates (√Σ(wᵢhᵢ)² / Σwᵢ); null if never scored.
   */
  readonly contribution: number | null;
  readonly ci: readonly [number, number] | null;
  readonly windows: readonly WindowScore[];
  readonly spotChecks: { readonly passed: number; readonly failed: number };
  readonly flags: readonly MinerFlag[];
  /** Its share of the run's payout: the mean of its window shares (a window not listing it counts 0). */
  readonly share: number;
  /** The u16 weight of the last payout window (0 when that window does not list it). */
  readonly weight: number;
}

export interface MinerTable {
  /** Payout windows (WeightsProposed) the validator recorded. */
  readonly windows: number;
  /** By miner id, ordered by stage (unknown last), then id. */
  readonly miners: Readonly<Record<string, MinerRow>>;
}

export interface ValidatorReport extends MinerTable {
  readonly id: string;
  /** Its re-derived decisions (draws, scores, flags, payouts). */
  readonly decisions: number;
  readonly findings: readonly AuditFinding[];
}

/** The earliest fact whose re-derivation fails (`index` into the facts), or a schedule violation (index null). */
export interface Divergence {
  readonly index: number | null;
  readonly id: string | null;
  readonly type: string | null;
  readonly actor: string | null;
  /** Whose check failed: "orchestrator", "schedule" or "validator". */
  readonly by: "orchestrator" | "schedule" | "validator";
  readonly reason: string;
}

export interface AuditReport {
  readonly facts: number;
  readonly orchestrator: { readonly id: string | null; readonly decisions: number; readonly findings: readonly AuditFinding[] };
  readonly schedule: ScheduleReport;
  readonly validators: readonly ValidatorReport[];
  readonly firstDivergence: Divergence | null;
}



const orchestratorOf = (facts: readonly SwarmFact[]): string | null => {
  const started = facts.find((f) => f.type === "SwarmRunStarted" && f.payload.orchestrator === f.actor);
  return started === undefined ? null : started.actor;
};

interface Acc {
  stage: number | null;
  scoredStage: number | null;
  microbatches: number;
  windows: WindowScore[];
  passed: number;
  failed: number;
  flags: MinerFlag[];
  share: number;
  weight: number;
}

/** The run-level contribution and interval of a miner's window scores (see MinerRow.contribution). */
export const combineWindows = (ws: readonly WindowScore[]): { contribution: number; ci: [number, number] } | null => {
  let n = 0, sum = 0, lo2 = 0, hi2 = 0;
  for (const w of ws) {
    n += w.samples;
    sum += w.samples * w.contribution;
    lo2 += (w.samples * (w.contribution - w.lo)) ** 2;
    hi2 += (w.samples * (w.hi - w.contribution)) ** 2;
  }
  if (n === 0) return null;
  const c = sum / n;
  return { contribution: c, ci: [c - Math.sqrt(lo2) / n, c + Math.sqrt(hi2) / n] };
};

/** `validator`'s table of the miners of `facts` (which the caller has audited). */
export const minerTable = (facts: readonly SwarmFact[], validator: string): MinerTable => {
  const orchestrator = orchestratorOf(facts);
  const rows = new Map<string, Acc>();
  const row = (m: string): Acc => {
    let r = rows.get(m);
    if (r === undefined) rows.set(m, (r = { stage: null, scoredStage: null, microbatches: 0, windows: [], passed: 0, failed: 0, flags: [], share: 0, weight: 0 }));
    return r;
  };
  const payouts: SwarmPayloads["WeightsProposed"][] = [];
  for (const f of facts) {
    if (f.actor === orchestrator) {
      if (f.type === "StageAssigned") row(f.payload.miner).stage = f.payload.stage;
      else if (f.type === "MicrobatchCompleted") for (const m of new Set(f.payload.pathway)) row(m).microbatches += 1;
      continue;
    }
    if (f.actor !== validator) continue;
    switch (f.type) {
      case "ContributionScored": {
        const r = row(f.payload.miner);
        r.scoredStage = f.payload.stage;
        r.windows.push({ window: f.payload.window, contribution: f.payload.contribution, lo: f.payload.lo, hi: f.payload.hi, samples: f.payload.samples });
        break;
      }
      case "SpotCheckPassed":
        row(f.payload.miner).passed += 1;
        break;
      case "SpotCheckFailed":
        row(f.payload.miner).failed += 1;
        break;
      case "MinerFlagged":
        row(f.payload.miner).flags.push({ window: f.payload.window, reason: f.payload.reason, detail: f.payload.detail });
        break;
      case "WeightsProposed":
        payouts.push(f.payload);
        break;
      default:
        break;
    }
  }
  const last = payouts[payouts.length - 1];
  for (const p of payouts)
    for (const e of p.entries) {
      // A listed hotkey that is not a miner of the run (the owner's uid) shows only when it is paid.
      if (!rows.has(e.hotkey) && !(e.share > 0)) continue;
      const r = row(e.hotkey);
      r.share += e.share / payouts.length;
      if (p === last) r.weight = e.weight;
    }
  const order = [...rows.entries()].map(([m, r]) => [m, r.stage ?? r.scoredStage, r] as const).sort(([a, sa], [b, sb]) => (sa ?? Infinity) - (sb ?? Infinity) || byCodeUnit(a, b));
  const miners: Record<string, MinerRow> = {};
  for (const [m, stage, r] of order) {
    const total = combineWindows(r.windows);
    miners[m] = {
      stage, microbatches: r.microbatches, contribution: total?.contribution ?? null, ci: total?.ci ?? null, windows: r.windows,
      spotChecks: { passed: r.passed, failed: r.failed }, flags: r.flags, share: r.share, weight: r.weight,
    };
  }
  return { windows: payouts.length, miners };
};

/**
 * Audits a run's facts (decoded, in log order): the orchestrator's decisions, the schedule, and
 * each validator's decisions, with the earliest divergence among them; and each validator's table.
 */
export const auditRun = (facts: readonly SwarmFact[]): AuditReport => {
  const orchestrator = orchestratorOf(facts);
  const decisions = orchestrator === null ? 0 : facts.filter((f) => f.actor === orchestrator && !isInput(f)).length;
  const views = foldViews(facts);
  const findings = auditDecisions(facts, views);
  const schedule = checkInvariants(facts);
  const validators = validatorsOf(facts).map((id): ValidatorReport => ({
    id,
    decisions: facts.filter((f) => f.actor === id && SCORER_DECISIONS.has(f.type)).length,
    findings: auditScorer(facts, id, views).findings,
    ...minerTable(facts, id),
  }));
  const candidates: { finding: AuditFinding; by: Divergence["by"] }[] = [
    ...findings.map((finding) => ({ finding, by: "orchestrator" as const })),
    ...validators.flatMap((v) => v.findings.map((finding) => ({ finding, by: "validator" as const }))),
  ];
  let first: Divergence | null = null;
  const earliest = candidates.reduce<(typeof candidates)[number] | undefined>((a, c) => (a === undefined || c.finding.index < a.finding.index ? c : a), undefined);
  if (earliest !== undefined) {
    const f = facts[earliest.finding.index];
    first = { index: earliest.finding.index, id: earliest.finding.id, type: f?.type ?? null, actor: f?.actor ?? null, by: earliest.by, reason: earliest.finding.reason };
  } else if (schedule.violations.length > 0)
    first = { index: null, id: null, type: null, actor: orchestrator, by: "schedule", reason: schedule.violations[0] as string };
  return { facts: facts.length, orchestrator: { id: orchestrator, decisions, findings }, schedule, validators, firstDivergence: first };
};

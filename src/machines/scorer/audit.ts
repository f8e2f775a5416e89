// The auditor's checks of a validator: every decision it recorded (draws, scores, flags, payouts)
// is re-derived by folding the log up to its basis (cause[0]) and deciding again, exactly as the
// orchestrator's are; its verdicts, which are measurements, must each answer a check it drew, once.
import { Result } from "effect";
import type { SwarmFact } from "../../events/swarm/index.js";
import { type AuditFinding, foldViews, type OrchestratorState } from "../orchestrator/index.js";
import { decideScorer, type ScorerDecision } from "./decide.js";
import { evolveScorer } from "./evolve.js";
import { initialScorerState, type ScorerState } from "./state.js";

/** The validator's facts that are decisions (re-derived); its verdicts and ScoringStarted are inputs. */
export const SCORER_DECISIONS: ReadonlySet<string> = new Set<string>(["SpotChecksDrawn", "ContributionScored", "MinerFlagged", "WeightsProposed"]);

/** JSON with object keys sorted: a payload decoded from the log lists its fields in schema order, a decision in the order it was built. */
const sorted = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === "object" && x !== null && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));

const same = (d: ScorerDecision, f: SwarmFact): boolean =>
  d.id === f.id && d.type === f.type && sorted(d.payload) === sorted(f.payload) && JSON.stringify(d.cause) === JSON.stringify(f.cause);

/** Validators of a log: every actor that recorded ScoringStarted, in log order. */
export const validatorsOf = (log: readonly SwarmFact[]): string[] => [...new Set(log.filter((f) => f.type === "ScoringStarted").map((f) => f.actor))];

/**
 * Re-derives every decision of `validator` in `log`; returns the divergences (empty when it
 * replays) and its final state. `views` (foldViews(log)) when the caller already folded the log.
 */
export const auditScorer = (log: readonly SwarmFact[], validator: string, views: readonly OrchestratorState[] = foldViews(log)): { readonly findings: AuditFinding[]; readonly state: ScorerState } => {
  const findings: AuditFinding[] = [];
  const after = new Map<string, { s: ScorerState; view: OrchestratorState }>();
  let s = initialScorerState(validator);
  let batch: { basis: string; expected: ScorerDecision[]; next: number } | null = null;
  log.forEach((f, index) => {
    if (f.actor === validator && SCORER_DECISIONS.has(f.type)) {
      const basis = f.cause[0] ?? "";
      if (batch === null || batch.basis !== basis || batch.next >= batch.expected.length || batch.expected[batch.next]?.id !== f.id) {
        const at = after.get(basis);
        const r = at === undefined ? undefined : decideScorer({ type: "Advance" }, at.s, at.view);
        batch = { basis, expected: r !== undefined && Result.isSuccess(r) ? r.success : [], next: 0 };
      }
      const want = batch.expected[batch.next];
      if (want === undefined || !same(want, f))
        findings.push({ index, id: f.id, reason: want === undefined ? `${f.type} was not called for at its basis` : `expected ${want.type} ${sorted(want.payload)}, the log has ${sorted(f.payload)}` });
      batch.next += 1;
    } else if (f.actor === validator && (f.type === "SpotCheckPassed" || f.type === "SpotCheckFailed")) {
      const w = s.windows[f.payload.window];
      const c = w?.checks?.[f.payload.check];
      if (c === undefined) findings.push({ index, id: f.id, reason: `${f.type} answers no drawn check (window ${f.payload.window}, check ${f.payload.check})` });
      else if (w?.verdicts[f.payload.check] !== undefined) findings.push({ index, id: f.id, reason: `check ${f.payload.check} of window ${f.payload.window} was judged twice` });
      else if (c.miner !== f.payload.miner) findings.push({ index, id: f.id, reason: `${f.type} names ${f.payload.miner}, the check drew ${c.miner}` });
    }
    const view = views[index] as OrchestratorState;
    s = evolveScorer(s, f, view);
    after.set(f.id, { s, view });
  });
  return { findings, state: s };
};

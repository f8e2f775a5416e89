// The auditor's checks over a swarm log: (1) every orchestrator decision is re-derived by folding
// the log up to its basis (cause[0]) and deciding again; (2) log-level invariants of the schedule:
// no microbatch lost or counted twice, every lease closed at most once, reissues keep the batch.
import { Result } from "effect";
import type { SwarmFact } from "../../events/swarm/index.js";
import { decide, type Decision } from "./decide.js";
import { evolve } from "./evolve.js";
import { initialState, type OrchestratorState } from "./state.js";

export interface AuditFinding {
  readonly index: number;
  readonly id: string;
  readonly reason: string;
}

/** Facts that are inputs, not derivable decisions: the run start, clock ticks, operator kicks. */
export const isInput = (f: SwarmFact): boolean =>
  f.type === "SwarmRunStarted" || f.type === "ClockTicked" || (f.type === "MinerKicked" && f.payload.reason === "operator");

const same = (d: Decision, f: SwarmFact): boolean =>
  d.id === f.id && d.type === f.type && JSON.stringify(d.payload) === JSON.stringify(f.payload) && JSON.stringify(d.cause) === JSON.stringify(f.cause);

/** The orchestrator's state after each fact of `log` (views[i] has folded log[0..i]): one fold shared by every audit of a log. */
export const foldViews = (log: readonly SwarmFact[]): OrchestratorState[] => {
  const views: OrchestratorState[] = [];
  let s = initialState();
  for (const f of log) views.push((s = evolve(s, f)));
  return views;
};

/**
 * Re-derives every orchestrator decision in `log` (log order) and returns the divergences (empty
 * when the log replays). A batch cut short by a crash is accepted: it must be a prefix of what the
 * state at its basis calls for. `views` (foldViews(log)) when the caller already folded the log.
 */
export const auditDecisions = (log: readonly SwarmFact[], views: readonly OrchestratorState[] = foldViews(log)): AuditFinding[] => {
  const findings: AuditFinding[] = [];
  const at = new Map<string, number>();
  let batch: { basis: string; expected: Decision[]; next: number } | null = null;
  log.forEach((f, index) => {
    const before = index === 0 ? initialState() : (views[index - 1] as OrchestratorState);
    const orchestrator = before.config?.orchestrator;
    if (orchestrator !== undefined && f.actor === orchestrator && !isInput(f)) {
      const basis = f.cause[0] ?? "";
      if (batch === null || batch.basis !== basis || batch.next >= batch.expected.length || batch.expected[batch.next]?.id !== f.id) {
        const i = at.get(basis);
        const r = i === undefined ? undefined : decide({ type: "Advance" }, views[i] as OrchestratorState);
        batch = { basis, expected: r !== undefined && Result.isSuccess(r) ? r.success : [], next: 0 };
      }
      const want = batch.expected[batch.next];
      if (want === undefined || !same(want, f))
        findings.push({ index, id: f.id, reason: want === undefined ? `${f.type} was not called for at its basis` : `expected ${want.type} ${JSON.stringify(want.payload)}` });
      batch.next += 1;
    }
    at.set(f.id, index);
  });
  return findings;
};

export interface ScheduleReport {
  readonly issued: number;
  readonly completed: number;
  readonly reissued: number;
  /** Microbatches with an open lease at the end of the log. */
  readonly open: number;
  /** Microbatches whose last lease was reissued and that wait for a new one. */
  readonly waiting: number;
  readonly violations: readonly string[];
}

/**
 * Log-level schedule invariants, computed from the facts alone (independent of `evolve`): leases
 * close at most once; a microbatch completes at most once; a reissued microbatch keeps its batch
 * id; leased microbatch indices are contiguous from 0. issued = completed + open + waiting.
 */
export const checkInvariants = (log: readonly SwarmFact[]): ScheduleReport => {
  const orchestrator = log.find((f) => f.type === "SwarmRunStarted")?.actor;
  const violations: string[] = [];
  const leases = new Map<string, { microbatch: number; batch: number; closed: string | null }>();
  const byMicrobatch = new Map<number, { batch: number; leases: string[]; completed: boolean }>();
  let reissued = 0;
  for (const f of log) {
    if (f.actor !== orchestrator) continue;
    if (f.type === "MicrobatchLeased") {
      if (leases.has(f.id)) continue;
      const p = f.payload;
      leases.set(f.id, { microbatch: p.microbatch, batch: p.batch, closed: null });
      const mb = byMicrobatch.get(p.microbatch);
      if (mb === undefined) byMicrobatch.set(p.microbatch, { batch: p.batch, leases: [f.id], completed: false });
      else {
        if (mb.batch !== p.batch) violations.push(`microbatch ${p.microbatch} re-leased with batch ${p.batch}, was ${mb.batch}`);
        if (mb.completed) violations.push(`microbatch ${p.microbatch} leased again after completing`);
        const prev = leases.get(mb.leases[mb.leases.length - 1] as string);
        if (prev?.closed !== "reissued") violations.push(`microbatch ${p.microbatch} leased twice concurrently`);
        mb.leases.push(f.id);
      }
    } else if (f.type === "MicrobatchCompleted" || f.type === "MicrobatchReissued") {
      const l = leases.get(f.payload.lease);
      if (l === undefined) { violations.push(`${f.type} of unknown lease ${f.payload.lease}`); continue; }
      if (l.closed !== null) { violations.push(`lease ${f.payload.lease} closed twice (${l.closed}, then ${f.type})`); continue; }
      l.closed = f.type === "MicrobatchCompleted" ? "completed" : "reissued";
      const mb = byMicrobatch.get(l.microbatch);
      if (f.type === "MicrobatchCompleted" && mb !== undefined) {
        if (mb.completed) violations.push(`microbatch ${l.microbatch} completed twice`);
        mb.completed = true;
      } else reissued += 1;
    }
  }
  const indices = [...byMicrobatch.keys()].sort((a, b) => a - b);
  indices.forEach((k, i) => { if (k !== i) violations.push(`microbatch indices skip ${i}`); });
  let completed = 0, open = 0, waiting = 0;
  for (const mb of byMicrobatch.values()) {
    const last = leases.get(mb.leases[mb.leases.length - 1] as string);
    if (mb.completed) completed += 1;
    else if (last?.closed === null) open += 1;
    else waiting += 1;
  }
  return { issued: byMicrobatch.size, completed, reissued, open, waiting, violations };
};

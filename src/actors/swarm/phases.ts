// Where a live sim's wall time went, phase by phase: each completed lease's path through the
// pipeline (when each of its facts reached the sim's feed, from its MicrobatchLeased) and each
// stage merge (MergeStarted to MergeCompleted). Reporting only: the times are this process's
// clock when the feed delivered a fact, and no decision reads them (decisions follow log order).
import type { SwarmFact } from "../../events/swarm/index.js";

/** One point of a lease's path: a fact kind (with its stage where it has one), e.g. "BackwardCompleted0". */
export interface Milestone {
  readonly name: string;
  /** Median ms from the lease's MicrobatchLeased to this fact, over the completed leases that had it. */
  readonly medianMs: number;
}

export interface PhaseTimes {
  /** Completed leases timed (a reissued lease's first try never completes, so it is not). */
  readonly leases: number;
  /** The path's points in order of their median, the last MicrobatchCompleted (the whole path). */
  readonly lease: readonly Milestone[];
  /** Stage merges timed, from MergeStarted to MergeCompleted (abandoned ones are not). */
  readonly merges: number;
  readonly mergeMedianMs: number;
  readonly mergeP90Ms: number;
}

/** The value at quantile `q` of `xs` (nearest rank), NaN when empty. */
export const quantile = (xs: readonly number[], q: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
};

const STAGED = new Set(["ActivationsForwarded", "GradientsReturned", "BackwardCompleted"]);

/**
 * The lease a fact is a step of and the milestone it is ("ActivationsForwarded0", "LossComputed",
 * ..., the lease's own "MicrobatchLeased"), or undefined for a fact of no single lease.
 */
export const leaseMilestone = (fact: SwarmFact): { readonly lease: string; readonly name: string } | undefined => {
  const p = fact.payload as { readonly lease?: unknown; readonly stage?: unknown };
  const lease = fact.type === "MicrobatchLeased" ? fact.id : typeof p.lease === "string" ? p.lease : undefined;
  if (lease === undefined) return undefined;
  return { lease, name: STAGED.has(fact.type) && typeof p.stage === "number" ? `${fact.type}${p.stage}` : fact.type };
};

/**
 * Records facts with the time they arrived; `summary` turns them into PhaseTimes. A lease's times
 * are folded into per-milestone lists when it completes, so a long run keeps a few numbers per
 * microbatch, not a map per lease.
 */
export const phaseTimer = (): { observe(fact: SwarmFact, atMs: number): void; summary(): PhaseTimes } => {
  // open lease id -> milestone -> first arrival (a redelivered fact keeps the first time)
  const open = new Map<string, Map<string, number>>();
  // milestone -> ms from the lease, one per completed lease that had it
  const since = new Map<string, number[]>();
  let timed = 0;
  const mergeStarts = new Map<string, number>();
  const mergeMs: number[] = [];
  const complete = (seen: Map<string, number>): void => {
    const t0 = seen.get("MicrobatchLeased");
    if (t0 === undefined) return; // leased before the timer saw it
    timed += 1;
    for (const [name, t] of seen) {
      if (name === "MicrobatchLeased") continue;
      const xs = since.get(name) ?? [];
      xs.push(t - t0);
      since.set(name, xs);
    }
  };
  return {
    observe: (fact, at) => {
      if (fact.type === "MergeStarted") {
        if (!mergeStarts.has(fact.id)) mergeStarts.set(fact.id, at);
        return;
      }
      if (fact.type === "MergeCompleted") {
        const t0 = mergeStarts.get(fact.payload.merge);
        if (t0 !== undefined) mergeMs.push(at - t0);
        mergeStarts.delete(fact.payload.merge);
        return;
      }
      const m = leaseMilestone(fact);
      if (m === undefined) return;
      const { lease, name } = m;
      let seen = open.get(lease);
      if (seen === undefined) {
        seen = new Map();
        open.set(lease, seen);
      }
      if (seen.has(name)) return;
      seen.set(name, at);
      if (fact.type === "MicrobatchCompleted") {
        complete(seen);
        // A fact of this lease delivered again later opens an entry that never completes: it is not timed.
        open.delete(lease);
      }
    },
    summary: () => {
      const lease = [...since].map(([name, xs]) => ({ name, medianMs: quantile(xs, 0.5) }))
        .sort((a, b) => a.medianMs - b.medianMs || Number(a.name === "MicrobatchCompleted") - Number(b.name === "MicrobatchCompleted") || (a.name < b.name ? -1 : 1));
      return { leases: timed, lease, merges: mergeMs.length, mergeMedianMs: quantile(mergeMs, 0.5), mergeP90Ms: quantile(mergeMs, 0.9) };
    },
  };
};

const LABELS: Record<string, string> = { LossComputed: "loss", MicrobatchCompleted: "completed" };

/** A milestone's name for people: "forward 0", "gradients from 1", "backward 1", "loss", "completed". */
export const milestoneLabel = (name: string): string => {
  const m = /^(ActivationsForwarded|GradientsReturned|BackwardCompleted)(\d+)$/.exec(name);
  if (m === null) return LABELS[name] ?? name;
  const kind = m[1] === "ActivationsForwarded" ? "forward" : m[1] === "GradientsReturned" ? "gradients from" : "backward";
  return `${kind} ${m[2]}`;
};

/** One line: the lease path's points as ms from the lease, and the merges' median and 90th percentile. */
export const phaseLine = (p: PhaseTimes): string => {
  const path = p.lease.map((m) => `${milestoneLabel(m.name)} +${m.medianMs.toFixed(0)}`).join(", ");
  const merges = p.merges === 0 ? "no stage merge completed" : `a stage merge ${p.mergeMedianMs.toFixed(0)} (90th percentile ${p.mergeP90Ms.toFixed(0)}; ${p.merges} merges)`;
  return `a lease ${p.leases === 0 ? "(none completed)" : `${path} (${p.leases} leases)`}; ${merges}`;
};

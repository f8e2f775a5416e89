// What the dashboard shows, as a fold of the run's facts: the loss curve, the pipeline's wiring
// and traffic, merge rounds, faults on a timeline, scores and weights. Each fact becomes a small
// update (`updateOf`): the server folds them into its view and streams the same updates to the
// page (server-sent events, id = the fact's position in the log), so a page that reconnects with
// the last id it saw misses nothing. Pure: the state is the orchestrator's fold, read, never recomputed here.
import type { SwarmFact } from "../../events/swarm/index.js";
import { evolve, initialState, type OrchestratorState } from "../orchestrator/index.js";

/** One completed microbatch: the loss curve's point (`at` is the fact's wall-clock ms: metadata, for tokens/s only). */
export interface CurvePoint {
  readonly seq: number;
  readonly completed: number;
  readonly loss: number;
  readonly tokens: number;
  readonly at: number;
}

/** Traffic on one wire of the pipeline: activations down, input-gradients back. */
export interface Link {
  readonly from: string;
  readonly to: string;
  readonly kind: "act" | "grad";
  readonly count: number;
}

export type TimelineKind = "reissued" | "timed-out" | "kicked" | "left" | "disputed" | "flagged" | "spot-check-failed";

/** A fault or an intervention, where it happened in the log. */
export interface TimelineItem {
  readonly seq: number;
  readonly kind: TimelineKind;
  readonly miner: string | null;
  readonly detail: string;
}

/** One merge round of a stage. */
export interface MergeRow {
  readonly id: string;
  readonly seq: number;
  readonly stage: number;
  readonly epoch: number;
  readonly participants: number;
  readonly partitions: number;
  /** The planned reducers of each partition. */
  readonly reducers: readonly (readonly string[])[];
  readonly disputes: number;
  readonly reassigned: number;
  /** Set once the merge completed. */
  readonly accepted: number | null;
  readonly skipped: number | null;
}

/** A miner's place in the pipeline. */
export interface MinerRow {
  readonly id: string;
  readonly stage: number | null;
  readonly status: string;
}

/** A miner's latest score by a validator, and its share of the latest payout. */
export interface ScoreRow {
  readonly miner: string;
  readonly validator: string;
  readonly window: number;
  readonly stage: number;
  readonly contribution: number;
  readonly lo: number;
  readonly hi: number;
  readonly samples: number;
  /** Flag reasons in this window. */
  readonly flagged: readonly string[];
  /** Its share of the validator's latest proposed payout (null before one names it). */
  readonly share: number | null;
}

export interface RunInfo {
  readonly run: string;
  readonly orchestrator: string;
  readonly stages: number;
  readonly microbatches: number;
}

export interface DashboardView {
  readonly run: RunInfo | null;
  /** Stream sequence of the last fact folded, and how many swarm facts were. */
  readonly seq: number;
  readonly facts: number;
  readonly done: boolean;
  readonly curve: readonly CurvePoint[];
  readonly links: readonly Link[];
  readonly miners: readonly MinerRow[];
  readonly merges: readonly MergeRow[];
  readonly timeline: readonly TimelineItem[];
  readonly scores: readonly ScoreRow[];
}

/** What one fact changes: rows to append or to put in place of the row with the same key. */
export interface DashboardUpdate {
  readonly seq: number;
  readonly run?: RunInfo;
  readonly done?: true;
  readonly curve?: CurvePoint;
  readonly link?: Link;
  readonly miner?: MinerRow;
  readonly merge?: MergeRow;
  readonly timeline?: TimelineItem;
  readonly score?: ScoreRow;
}

export const emptyView = (): DashboardView => ({ run: null, seq: 0, facts: 0, done: false, curve: [], links: [], miners: [], merges: [], timeline: [], scores: [] });

/** The dashboard's fold: its view, and the orchestrator's state it reads membership from. */
export interface Folded {
  readonly view: DashboardView;
  readonly orchestrator: OrchestratorState;
}

export const emptyFolded = (): Folded => ({ view: emptyView(), orchestrator: initialState() });

const linkKey = (l: { from: string; to: string; kind: string }): string => `${l.kind}:${l.from}>${l.to}`;
const scoreKey = (s: { miner: string; validator: string }): string => `${s.validator}:${s.miner}`;

/** Puts `row` in place of the row with its key, or appends it. */
const upsert = <A>(rows: readonly A[], row: A, key: (a: A) => string): A[] => {
  const k = key(row);
  const i = rows.findIndex((r) => key(r) === k);
  if (i < 0) return [...rows, row];
  const out = [...rows];
  out[i] = row;
  return out;
};

/** Applies an update (the page applies the same ones, in the same order). */
export const applyUpdate = (v: DashboardView, u: DashboardUpdate): DashboardView => ({
  run: u.run ?? v.run,
  seq: Math.max(v.seq, u.seq),
  facts: v.facts,
  done: v.done || u.done === true,
  curve: u.curve === undefined ? v.curve : [...v.curve, u.curve],
  links: u.link === undefined ? v.links : upsert(v.links, u.link, linkKey),
  miners: u.miner === undefined ? v.miners : upsert(v.miners, u.miner, (m) => m.id),
  merges: u.merge === undefined ? v.merges : upsert(v.merges, u.merge, (m) => m.id),
  timeline: u.timeline === undefined ? v.timeline : [...v.timeline, u.timeline],
  scores: u.score === undefined ? v.scores : upsert(v.scores, u.score, scoreKey),
});

const minerRow = (s: OrchestratorState, id: string): MinerRow | undefined => {
  const m = s.miners[id];
  return m === undefined ? undefined : { id, stage: m.stage, status: m.status };
};

/** The update `fact` (at stream sequence `seq`, recorded at wall-clock `at`) makes, given the view and the orchestrator's state before and after it. */
const updateOf = (v: DashboardView, before: OrchestratorState, after: OrchestratorState, seq: number, fact: SwarmFact, at: number): DashboardUpdate => {
  // A miner whose membership changed with this fact (joined, assigned, loaded, timed out, kicked, left).
  const changed = Object.keys(after.miners).find((id) => after.miners[id] !== before.miners[id] && (after.miners[id]?.status !== before.miners[id]?.status || after.miners[id]?.stage !== before.miners[id]?.stage));
  const miner = changed === undefined ? undefined : minerRow(after, changed);
  const base: DashboardUpdate = { seq, ...(miner === undefined ? {} : { miner }) };
  const merge = (id: string, f: (m: MergeRow) => MergeRow): DashboardUpdate => {
    const m = v.merges.find((x) => x.id === id);
    return m === undefined ? base : { ...base, merge: f(m) };
  };
  const link = (from: string, to: string, kind: "act" | "grad"): DashboardUpdate => {
    const old = v.links.find((l) => linkKey(l) === linkKey({ from, to, kind }));
    return { ...base, link: { from, to, kind, count: (old?.count ?? 0) + 1 } };
  };
  const event = (kind: TimelineKind, who: string | null, detail: string): DashboardUpdate => ({ ...base, timeline: { seq, kind, miner: who, detail } });
  switch (fact.type) {
    case "SwarmRunStarted": {
      const c = after.config;
      return c === null ? base : { ...base, run: { run: c.run, orchestrator: c.orchestrator, stages: c.stages.length, microbatches: c.schedule.totalMicrobatches } };
    }
    case "RunCompleted":
      return after.done ? { ...base, done: true } : base;
    case "MicrobatchCompleted": {
      if (fact.actor !== after.config?.orchestrator) return base;
      const c = fact.payload;
      const last = v.curve[v.curve.length - 1];
      return { ...base, curve: { seq, completed: after.counters.completed, loss: c.loss, tokens: (last?.tokens ?? 0) + c.tokens, at } };
    }
    case "ActivationsForwarded":
      return link(fact.actor, fact.payload.to, "act");
    case "GradientsReturned":
      return link(fact.actor, fact.payload.to, "grad");
    case "MergeStarted": {
      if (fact.actor !== after.config?.orchestrator) return base;
      const m = fact.payload;
      return { ...base, merge: { id: fact.id, seq, stage: m.stage, epoch: m.epoch, participants: m.participants.length, partitions: m.partitions, reducers: m.reducers, disputes: 0, reassigned: 0, accepted: null, skipped: null } };
    }
    case "PartitionDisputed": {
      const d = fact.payload;
      if (fact.actor !== after.config?.orchestrator) return base;
      return { ...merge(d.merge, (m) => ({ ...m, disputes: m.disputes + 1 })), timeline: { seq, kind: "disputed", miner: null, detail: `partition ${d.partition} of merge ${d.merge.slice(-8)}: reducers disagree; ${d.reducer.slice(0, 10)} recomputes` } };
    }
    case "PartitionReassigned": {
      return fact.actor !== after.config?.orchestrator ? base : merge(fact.payload.merge, (m) => ({ ...m, reassigned: m.reassigned + 1 }));
    }
    case "MergeCompleted": {
      const c = fact.payload;
      return fact.actor !== after.config?.orchestrator ? base : merge(c.merge, (m) => ({ ...m, accepted: c.accepted, skipped: c.skipped }));
    }
    case "MicrobatchReissued": {
      const r = fact.payload;
      return fact.actor !== after.config?.orchestrator ? base : event("reissued", r.miner, `microbatch ${r.microbatch} reissued (${r.reason})`);
    }
    case "MinerTimedOut": {
      return fact.actor !== after.config?.orchestrator ? base : event("timed-out", fact.payload.miner, "no fact within the heartbeat timeout");
    }
    case "MinerKicked": {
      const k = fact.payload;
      return fact.actor !== after.config?.orchestrator ? base : event("kicked", k.miner, `kicked (${k.reason})`);
    }
    case "MinerLeft":
      return event("left", fact.actor, fact.payload.reason);
    case "SpotCheckFailed": {
      const s = fact.payload;
      return event("spot-check-failed", s.miner, `window ${s.window}: ${s.detail}`);
    }
    case "MinerFlagged": {
      const f = fact.payload;
      const old = v.scores.find((s) => scoreKey(s) === scoreKey({ miner: f.miner, validator: fact.actor }));
      const score = old === undefined || old.window !== f.window ? undefined : { ...old, flagged: [...old.flagged, f.reason] };
      return { ...base, ...(score === undefined ? {} : { score }), timeline: { seq, kind: "flagged", miner: f.miner, detail: `window ${f.window}: ${f.reason}` } };
    }
    case "ContributionScored": {
      const c = fact.payload;
      const old = v.scores.find((s) => scoreKey(s) === scoreKey({ miner: c.miner, validator: fact.actor }));
      return { ...base, score: { miner: c.miner, validator: fact.actor, window: c.window, stage: c.stage, contribution: c.contribution, lo: c.lo, hi: c.hi, samples: c.samples, flagged: [], share: old?.share ?? null } };
    }
    default:
      return base;
  }
};

/**
 * One fact's updates: its own, then (a payout) one per score whose share it changed. `n` is the
 * fact's position among the run's facts (1-based): the event stream's id. The stream sequence
 * `seq` is not unique per fact, since one stored message carries an actor's batch of facts.
 */
export interface FactUpdates {
  readonly n: number;
  readonly seq: number;
  readonly updates: readonly DashboardUpdate[];
}

/** Folds one fact: the new state, and the updates the page gets for it. */
export const foldFact = (f: Folded, seq: number, fact: SwarmFact, at: number): { readonly folded: Folded; readonly message: FactUpdates } => {
  const orchestrator = evolve(f.orchestrator, fact);
  const updates = [updateOf(f.view, f.orchestrator, orchestrator, seq, fact, at)];
  let view = applyUpdate(f.view, updates[0] as DashboardUpdate);
  if (fact.type === "WeightsProposed") {
    const shares = new Map(fact.payload.entries.map((e) => [e.hotkey, e.share]));
    for (const s of view.scores) {
      if (s.validator !== fact.actor || (shares.get(s.miner) ?? 0) === s.share) continue;
      const u: DashboardUpdate = { seq, score: { ...s, share: shares.get(s.miner) ?? 0 } };
      updates.push(u);
      view = applyUpdate(view, u);
    }
  }
  return { folded: { view: { ...view, facts: view.facts + 1 }, orchestrator }, message: { n: view.facts + 1, seq, updates } };
};

// Merge rules (DESIGN "Merging: Butterfly All-Reduce"): start a stage's merge with the miners that
// trained >= B_min samples; seal the contributor set once everyone sent (or the gather deadline
// passed); accept a partition when two reducers agree on its hash; on disagreement add a reducer
// to recompute, settle, and flag whoever claimed otherwise; replace lost reducers; past the
// deadline, complete with what has quorum and record the rest as skipped. Unlike IOTA's open code
// (which keeps both copies and never compares) and hivemind (which keeps local values for failed
// reducers), both copies are compared and a wrong one is provably attributed.
import { assignReducers, byCodeUnit, chooseExtraReducer, globalStep, lrScheduleOf, mergeInterval, partitionBounds, rngFor } from "../../protocol/index.js";
import { type MergeState, type OrchestratorState, type PartitionState, stageMiners } from "../state.js";
import type { Proposal, Rule, RuleContext } from "./types.js";

/** At most this many reducers are added to one partition for disputes. */
export const MAX_DISPUTE_REDUCERS = 2;

/** A merge party is usable while active (a restarted miner lost its snapshot and its duties). */
const live = (s: OrchestratorState, m: string): boolean => s.miners[m]?.status === "active";

export const mergeStarts: Rule = (s, { config, nextId }) => {
  if (s.done) return undefined;
  const sch = config.schedule;
  const every = mergeInterval(sch, lrScheduleOf(config), globalStep(s.counters.completed, sch.microbatchesPerStep));
  for (let stage = 0; stage < s.stages.length; stage++) {
    const st = s.stages[stage];
    if (st === undefined || st.phase !== "training" || st.sinceMerge < every) continue;
    const participants = stageMiners(s, stage).filter((m) => m.samples >= sch.bMin && !m.flagged);
    if (participants.length < 2) continue;
    const params = config.stages[stage]?.params ?? 1;
    const count = partitionBounds(params, sch.partitions).length;
    const reducers = assignReducers(count, participants.map((m) => m.id), rngFor(config.seed, "merge", nextId));
    return {
      type: "MergeStarted",
      payload: {
        stage, epoch: st.epoch, participants: participants.map((m) => ({ miner: m.id, samples: m.samples })), partitions: count,
        reducers, gatherDeadline: s.tick + sch.mergeGatherTicks, deadline: s.tick + sch.mergeDeadlineTicks,
      },
      cause: [],
    };
  }
  return undefined;
};

/** The hash with a quorum: at least two claims and more than any other hash. */
export const quorumHash = (p: PartitionState): string | undefined => {
  const tally = new Map<string, number>();
  for (const h of Object.values(p.claims)) tally.set(h, (tally.get(h) ?? 0) + 1);
  const ranked = [...tally.entries()].sort((a, b) => b[1] - a[1] || byCodeUnit(a[0], b[0]));
  const [top, second] = ranked;
  if (top === undefined || top[1] < 2 || (second !== undefined && second[1] === top[1])) return undefined;
  return top[0];
};

/** Reducers currently held by each miner across open merges (the load for extra-reducer choice). */
const reducerLoad = (s: OrchestratorState) => (m: string): number =>
  Object.values(s.merges).reduce((n, g) => n + g.partitions.filter((p) => p.status === "open" && p.reducers.includes(m)).length, 0);

/** An extra reducer: a live same-stage miner if any, else any active miner of the run. */
const extraReducer = (s: OrchestratorState, g: MergeState, p: PartitionState, ctx: RuleContext): string | undefined => {
  const rng = rngFor(ctx.config.seed, "reducer", ctx.nextId);
  const same = stageMiners(s, g.stage).map((m) => m.id);
  const pick = chooseExtraReducer(same, p.reducers, reducerLoad(s), rng);
  if (pick !== undefined) return pick;
  const all = Object.values(s.miners).filter((m) => m.status === "active").map((m) => m.id);
  return chooseExtraReducer(all, p.reducers, reducerLoad(s), rng);
};

const partitionRule = (s: OrchestratorState, g: MergeState, i: number, ctx: RuleContext): Proposal | undefined => {
  const p = g.partitions[i] as PartitionState;
  const merge = g.id;
  if (p.status === "accepted") {
    if (!p.disputed || p.settled || p.hash === null) return undefined;
    const flagged = Object.entries(p.claims).filter(([, h]) => h !== p.hash).map(([r]) => r).sort(byCodeUnit);
    return { type: "DisputeSettled", payload: { merge, partition: i, hash: p.hash, flagged }, cause: p.claimIds };
  }
  const hash = quorumHash(p);
  if (hash !== undefined) {
    const reducers = Object.entries(p.claims).filter(([, h]) => h === hash).map(([r]) => r).sort(byCodeUnit);
    return { type: "PartitionAccepted", payload: { merge, partition: i, hash, reducers }, cause: p.claimIds };
  }
  if (s.tick >= g.deadline) return undefined;
  const lost = p.reducers.find((r) => !live(s, r) && p.claims[r] === undefined && !p.replaced.includes(r));
  if (lost !== undefined) {
    const reducer = extraReducer(s, g, p, ctx);
    return reducer === undefined ? undefined : { type: "PartitionReassigned", payload: { merge, partition: i, reducer, replaces: lost }, cause: [] };
  }
  const pending = p.reducers.some((r) => live(s, r) && p.claims[r] === undefined);
  const hashes = new Set(Object.values(p.claims));
  const added = p.reducers.length - 2 - p.replaced.length;
  if (!pending && hashes.size >= 2 && added < MAX_DISPUTE_REDUCERS) {
    const reducer = extraReducer(s, g, p, ctx);
    const claims = Object.entries(p.claims).map(([reducer, hash]) => ({ reducer, hash })).sort((a, b) => byCodeUnit(a.reducer, b.reducer));
    return reducer === undefined ? undefined : { type: "PartitionDisputed", payload: { merge, partition: i, claims, reducer }, cause: p.claimIds };
  }
  return undefined;
};

const mergeRule = (s: OrchestratorState, g: MergeState, ctx: RuleContext): Proposal | undefined => {
  if (g.sealed === null) {
    const unsent = g.participants.filter((q) => g.sent[q.miner] === undefined);
    if (unsent.length > 0 && s.tick < g.gatherDeadline && unsent.some((q) => live(s, q.miner))) return undefined;
    const contributors = g.participants.filter((q) => g.sent[q.miner] !== undefined).map((q) => ({ ...q }));
    return { type: "MergeSealed", payload: { merge: g.id, contributors }, cause: g.sentIds };
  }
  if (g.sealed.length > 0) {
    for (let i = 0; i < g.partitions.length; i++) {
      const r = partitionRule(s, g, i, ctx);
      if (r !== undefined) return r;
    }
  }
  const allDone = g.partitions.every((p) => p.status === "accepted" && (!p.disputed || p.settled));
  if (!allDone && g.sealed.length > 0 && s.tick < g.deadline) return undefined;
  const results = g.partitions.map((p) => (p.status === "accepted" ? p.hash : null));
  const accepted = results.filter((h) => h !== null).length;
  return {
    type: "MergeCompleted",
    payload: { merge: g.id, stage: g.stage, epoch: g.epoch, results, accepted, skipped: results.length - accepted },
    cause: [g.id],
  };
};

export const mergeProgress: Rule = (s, ctx) => {
  for (const g of Object.values(s.merges).sort((a, b) => a.stage - b.stage)) {
    const r = mergeRule(s, g, ctx);
    if (r !== undefined) return r;
  }
  return undefined;
};

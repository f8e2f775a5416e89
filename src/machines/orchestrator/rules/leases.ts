// Lease rules: complete a microbatch whose stage-0 backward is in, reissue one that expired or lost
// a miner with work still pending on its path, lease new or retried microbatches to stage-0 miners
// (SWARM wiring weighted by throughput and open leases, or the least loaded: Schedule.routing), and finish the run.
// Invariant: a microbatch is never lost (a void lease puts it back in the retry queue) and never
// counted twice (only an open lease completes, and completing closes it).
import { batchFor, pickPeer, rngFor } from "../../protocol/index.js";
import { type LeaseState, type OrchestratorState, stageMiners } from "../state.js";
import type { Rule } from "./types.js";

const openLeases = (s: OrchestratorState): LeaseState[] =>
  Object.values(s.leases).sort((a, b) => a.microbatch - b.microbatch);

export const completions: Rule = (s) => {
  const l = openLeases(s).find((x) => x.backward[0] !== null);
  if (l === undefined) return undefined;
  const pathway = l.pathway.map((m) => m ?? "");
  const cause = [l.id, ...(l.lossId === null ? [] : [l.lossId]), ...l.backward.filter((b): b is string => b !== null)];
  return {
    type: "MicrobatchCompleted",
    payload: { lease: l.id, microbatch: l.microbatch, batch: l.batch, pathway, loss: l.loss ?? Number.NaN, tokens: l.tokens },
    cause,
  };
};

/**
 * The miner whose loss voids the lease: on its path, with its backward still pending, and no longer
 * active (timed out, left, kicked, or re-registered after a restart: its activations are gone).
 */
const lostMiner = (s: OrchestratorState, l: LeaseState): string | undefined =>
  l.pathway.find((m, stage) => {
    if (m === null || l.backward[stage] !== null) return false;
    const rec = s.miners[m];
    return rec === undefined || rec.status !== "active";
  }) ?? undefined;

export const reissues: Rule = (s) => {
  for (const l of openLeases(s)) {
    const lost = lostMiner(s, l);
    if (lost !== undefined) return { type: "MicrobatchReissued", payload: { lease: l.id, microbatch: l.microbatch, reason: "miner-lost", miner: lost }, cause: [l.id] };
    if (s.tick >= l.expires) return { type: "MicrobatchReissued", payload: { lease: l.id, microbatch: l.microbatch, reason: "expired", miner: null }, cause: [l.id] };
  }
  return undefined;
};

/** Every stage has an active miner, so a leased microbatch can travel the whole pipeline. */
export const pipelineReady = (s: OrchestratorState): boolean => s.stages.every((_, i) => stageMiners(s, i).length > 0);

export const leases: Rule = (s, { config, nextId }) => {
  const sch = config.schedule;
  if (s.done || Object.keys(s.leases).length >= sch.maxInFlight || !pipelineReady(s)) return undefined;
  // A merging stage 0 holds its work unless merges overlap training.
  if (s.stages[0]?.phase !== "training" && !sch.overlapMerges) return undefined;
  const retry = s.retry[0];
  if (retry === undefined && s.nextMicrobatch >= sch.totalMicrobatches) return undefined;
  const mb = retry ?? { microbatch: s.nextMicrobatch, batch: batchFor(config.seed, s.nextMicrobatch, sch.datasetBatches), attempt: 0 };
  const held = (m: string) => Object.values(s.leases).filter((l) => l.pathway[0] === m).length;
  const candidates = stageMiners(s, 0).map((m) => ({ miner: m.id, throughput: m.throughput, queue: held(m.id) }));
  const miner = pickPeer(candidates, rngFor(config.seed, "lease", nextId), sch.routing);
  if (miner === undefined) return undefined;
  return { type: "MicrobatchLeased", payload: { ...mb, miner, expires: s.tick + sch.leaseTicks }, cause: [] };
};

export const runCompletion: Rule = (s, { config }) =>
  !s.done && s.counters.completed >= config.schedule.totalMicrobatches
    ? { type: "RunCompleted", payload: { microbatches: s.counters.completed, tokens: s.counters.tokens }, cause: [] }
    : undefined;

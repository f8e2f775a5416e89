// A replay state as the JSON-able RunSnapshot: the orchestrator's state keyed by id, each miner's
// machine summarised (its state value and the context fields a person debugging a run asks about),
// each validator's windows and decisions so far.
import { isLive, type OrchestratorState } from "../orchestrator/index.js";
import type { ReplayState, ValidatorFold } from "./fold.js";
import type { ReplayLog } from "./log.js";
import type {
  LeaseSnapshot, MergeSnapshot, MinerSnapshot, OrchestratorSnapshot, RunSnapshot, StateValue, ValidatorSnapshot, WorkerSnapshot,
} from "./types.js";
import type { WorkerFold } from "./worker.js";

const byId = <A>(xs: readonly A[], id: (a: A) => string): Record<string, A> => {
  const out: Record<string, A> = {};
  for (const x of [...xs].sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0))) out[id(x)] = x;
  return out;
};

const countBy = (xs: readonly { readonly type: string }[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const x of xs) out[x.type] = (out[x.type] ?? 0) + 1;
  return out;
};

export const orchestratorSnapshot = (s: OrchestratorState): OrchestratorSnapshot | null => {
  if (s.config === null) return null;
  const live = Object.values(s.miners).filter(isLive);
  const miners = byId(Object.values(s.miners), (m) => m.id);
  const leases = byId(Object.values(s.leases), (l) => l.id);
  const merges = byId(Object.values(s.merges), (g) => g.id);
  return {
    id: s.config.orchestrator, tick: s.tick, done: s.done, counters: s.counters, nextMicrobatch: s.nextMicrobatch,
    stages: s.stages.map((st, stage) => ({
      stage, phase: st.phase, epoch: st.epoch, sinceMerge: st.sinceMerge, merge: st.merge, weights: st.weights, weightsEpoch: st.weightsEpoch,
      optimizer: st.optimizer, miners: live.filter((m) => m.stage === stage).map((m) => m.id).sort(),
    })),
    miners: Object.fromEntries(Object.entries(miners).map(([id, m]): [string, MinerSnapshot] => [id, {
      status: m.status, stage: m.stage, queue: m.queue, samples: m.samples, flagged: m.flagged, lastSeen: m.lastSeen, throughput: m.throughput,
    }])),
    leases: Object.fromEntries(Object.entries(leases).map(([id, l]): [string, LeaseSnapshot] => [id, {
      microbatch: l.microbatch, batch: l.batch, attempt: l.attempt, expires: l.expires, pathway: l.pathway, loss: l.loss, backward: l.backward.map((b) => b !== null),
    }])),
    retry: s.retry,
    merges: Object.fromEntries(Object.entries(merges).map(([id, g]): [string, MergeSnapshot] => [id, {
      stage: g.stage, epoch: g.epoch, participants: g.participants, sent: Object.keys(g.sent).sort(), sealed: g.sealed,
      gatherDeadline: g.gatherDeadline, deadline: g.deadline,
      partitions: g.partitions.map((p) => ({
        reducers: p.reducers, claims: p.claims, replaced: p.replaced, status: p.status, hash: p.hash, disputed: p.disputed, settled: p.settled,
      })),
    }])),
  };
};

export const workerSnapshot = (w: WorkerFold): WorkerSnapshot => {
  if (w.kind === "unknown") return { miner: w.miner, reconstructed: false, reason: w.reason };
  const c = w.machine.context;
  return {
    miner: w.miner, reconstructed: true, session: w.session, sessions: w.sessions, joinedAt: w.joinedAt,
    state: w.machine.value as StateValue, status: w.machine.status === "active" ? "active" : "done",
    stage: c.stage, tick: c.tick, listening: c.listening, steps: c.steps, optimizerSteps: w.restored ? null : c.optimizerSteps,
    merge: c.merge, nextMerge: c.nextMerge?.merge ?? null, pending: c.pending, held: c.held.length, awaiting: c.awaiting, accumulated: c.accumulated,
    published: c.published, logged: w.logged, lastFact: w.lastFact,
    requested: countBy(w.requested), unlogged: countBy(w.decided),
    divergence: { unmatched: w.unmatched, skipped: w.skipped },
  };
};

export const validatorSnapshot = (v: ValidatorFold): ValidatorSnapshot | null => {
  const s = v.state;
  if (s.settings === null) return null;
  const caught: Record<string, { window: number; reason: string }> = {};
  for (const [m, c] of Object.entries(s.caught)) caught[m] = { window: c.window, reason: c.reason };
  return {
    validator: s.me, window: s.settings.window, completed: s.completed,
    windows: s.windows.map((w) => {
      const verdicts = Object.values(w.verdicts);
      return {
        index: w.index, samples: w.samples.length, closed: w.closedBy !== null, checks: w.checks?.length ?? null,
        passed: verdicts.filter((x) => x.passed).length, failed: verdicts.filter((x) => !x.passed).length, scored: w.scored,
      };
    }),
    contributions: v.contributions, flags: v.flags, weights: v.weights, caught,
  };
};

/** The run at the replay state's point. */
export const runSnapshot = (log: ReplayLog, s: ReplayState): RunSnapshot => {
  const scores: Record<string, ValidatorSnapshot> = {};
  for (const [id, v] of Object.entries(s.validators)) {
    const x = validatorSnapshot(v);
    if (x !== null) scores[id] = x;
  }
  const workers = byId(Object.values(s.workers).map(workerSnapshot), (w) => w.miner);
  const last = s.last === null ? null : { seq: s.last.seq, id: s.last.fact.id, type: s.last.fact.type, actor: s.last.fact.actor };
  return {
    run: s.view.config?.run ?? log.run,
    position: { seq: s.seq, entries: s.index, total: log.entries.length, facts: s.facts, step: s.view.tick, last },
    orchestrator: orchestratorSnapshot(s.view),
    workers,
    scores,
  };
};

// evolve(state, fact): the orchestrator's fold. Total and never throwing: a fact is a fact, so one
// that does not apply (unknown lease, wrong actor, stale, forged, redelivered) changes nothing.
// Idempotence: a fact with an actor-local seq already folded is ignored, and every effect is
// keyed (leases by id, stage work by (lease, stage), claims by (merge, partition, reducer)), so a
// re-sent fact under a new id is not counted twice either.
import { type Draft, produce } from "immer";
import { ORCHESTRATOR_TYPES, type SwarmFact } from "../../events/swarm/index.js";
import { applyMerge } from "./evolve-merge.js";
import { applyPipeline } from "./evolve-pipeline.js";
import { isLive, type OrchestratorState } from "./state.js";

type S = Draft<OrchestratorState>;

/** Folds one fact. Returns `state` itself (same reference) when the fact changes nothing. */
export const evolve = (state: OrchestratorState, fact: SwarmFact): OrchestratorState => {
  if (fact.seq <= (state.seqs[fact.actor] ?? 0)) return state;
  if (state.config === null) {
    if (fact.type !== "SwarmRunStarted" || fact.payload.orchestrator !== fact.actor) return state;
  } else if (ORCHESTRATOR_TYPES.has(fact.type) && fact.actor !== state.config.orchestrator) return state;
  return produce(state, (d) => {
    d.seqs[fact.actor] = fact.seq;
    d.lastId = fact.id;
    d.folded += 1;
    const m = d.miners[fact.actor];
    if (m !== undefined && isLive(m)) m.lastSeen = d.tick;
    if (!applyRun(d, fact)) if (!applyPipeline(d, fact)) applyMerge(d, fact);
  });
};

/** Folds a whole log from the initial state (the auditor's and the restarted orchestrator's view). */
export const fold = (facts: Iterable<SwarmFact>, from: OrchestratorState): OrchestratorState => {
  let s = from;
  for (const f of facts) s = evolve(s, f);
  return s;
};

/** Run, clock and membership facts; false if `fact` is of another kind. */
const applyRun = (d: S, fact: SwarmFact): boolean => {
  switch (fact.type) {
    case "SwarmRunStarted": {
      if (d.config !== null) return true;
      d.config = fact.payload as S["config"];
      d.stages = fact.payload.stages.map((st) => ({ phase: "training", epoch: 0, sinceMerge: 0, merge: null, weights: st.weights, weightsEpoch: 0, optimizer: null, optimizerEpoch: 0, results: [] }));
      return true;
    }
    case "ClockTicked":
      if (fact.payload.tick > d.tick) d.tick = fact.payload.tick;
      return true;
    case "RunCompleted":
      d.done = true;
      return true;
    case "MinerJoined": {
      // Exact redeliveries never reach here (actor seq); a new MinerJoined is a new registration.
      const m = d.miners[fact.actor];
      if (m !== undefined && m.status === "kicked") return true;
      // A live miner joining again restarted (new session): it re-registers, its in-memory work is lost.
      d.miners[fact.actor] = {
        id: fact.actor, status: "joined", stage: null, joinOrder: d.joins, lastSeen: d.tick,
        throughput: fact.payload.throughput, queue: 0, samples: 0, flagged: false,
      };
      d.joins += 1;
      return true;
    }
    case "StageAssigned": {
      const m = d.miners[fact.payload.miner];
      if (m !== undefined && m.status === "joined" && fact.payload.stage < d.stages.length) {
        m.status = "assigned";
        m.stage = fact.payload.stage;
      }
      return true;
    }
    case "WeightsLoaded": {
      const m = d.miners[fact.actor];
      const st = d.stages[fact.payload.stage];
      if (m === undefined || st === undefined || m.stage !== fact.payload.stage) return true;
      if (m.status !== "assigned" && m.status !== "active") return true;
      m.status = "active";
      if (fact.payload.epoch >= st.weightsEpoch) {
        st.weights = fact.payload.ref;
        st.weightsEpoch = fact.payload.epoch;
      }
      const opt = fact.payload.optimizer;
      if (opt !== undefined && (st.optimizer === null || fact.payload.epoch >= st.optimizerEpoch)) {
        st.optimizer = opt;
        st.optimizerEpoch = fact.payload.epoch;
      }
      return true;
    }
    case "HeartbeatSent": {
      const m = d.miners[fact.actor];
      if (m !== undefined && isLive(m)) {
        m.queue = fact.payload.queue;
        m.throughput = fact.payload.throughput;
      }
      return true;
    }
    case "MinerTimedOut":
    case "MinerLeft": {
      const m = d.miners[fact.type === "MinerLeft" ? fact.actor : fact.payload.miner];
      if (m !== undefined && isLive(m)) {
        m.status = "gone";
        if (fact.type === "MinerTimedOut") d.counters.timedOut += 1;
      }
      return true;
    }
    case "MinerKicked": {
      const m = d.miners[fact.payload.miner];
      if (m !== undefined && m.status !== "kicked") {
        m.status = "kicked";
        d.counters.kicked += 1;
      }
      return true;
    }
    default:
      return false;
  }
};

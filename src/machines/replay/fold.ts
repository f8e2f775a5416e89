// The replay fold: one pass over the log, entry by entry, carrying every role's state at once —
// the orchestrator's decider fold (which is also each worker's view), each miner's rebuilt machine
// and each validator's scorer fold. States are immutable, so any of them can be kept as a checkpoint.
import type { SwarmFact, SwarmPayloads } from "../../events/swarm/index.js";
import { evolve, initialState, type OrchestratorState } from "../orchestrator/index.js";
import { evolveScorer, initialScorerState, type ScorerState } from "../scorer/index.js";
import type { ReplayEntry, ReplayLog } from "./log.js";
import { feedWorker, joinWorker, startsSession, type WorkerFold } from "./worker.js";

/** A validator's fold, and the decisions it recorded (its state keeps no scores: they are its outputs). */
export interface ValidatorFold {
  readonly state: ScorerState;
  readonly contributions: readonly SwarmPayloads["ContributionScored"][];
  readonly flags: readonly SwarmPayloads["MinerFlagged"][];
  readonly weights: readonly SwarmPayloads["WeightsProposed"][];
}

export interface ReplayState {
  /** Entries folded. */
  readonly index: number;
  /** Stream seq of the last entry folded (0: none). */
  readonly seq: number;
  readonly facts: number;
  /** The orchestrator's fold: what every host hands its machine with each fact. */
  readonly view: OrchestratorState;
  readonly last: { readonly seq: number; readonly fact: SwarmFact } | null;
  readonly workers: Readonly<Record<string, WorkerFold>>;
  readonly validators: Readonly<Record<string, ValidatorFold>>;
}

/** The state before the first entry. Validators are known up front so each is folded from the run's start. */
export const initialReplay = (log: ReplayLog): ReplayState => ({
  index: 0, seq: 0, facts: 0, view: initialState(), last: null, workers: {},
  validators: Object.fromEntries(log.validators.map((v) => [v, { state: initialScorerState(v), contributions: [], flags: [], weights: [] }])),
});

const foldValidator = (v: ValidatorFold, f: SwarmFact, view: OrchestratorState): ValidatorFold => {
  const state = evolveScorer(v.state, f, view);
  // The same state back: a redelivered fact (or one before the run), which changes nothing.
  if (state === v.state) return v;
  if (f.actor !== v.state.me) return { ...v, state };
  switch (f.type) {
    case "ContributionScored": return { ...v, state, contributions: [...v.contributions, f.payload] };
    case "MinerFlagged": return { ...v, state, flags: [...v.flags, f.payload] };
    case "WeightsProposed": return { ...v, state, weights: [...v.weights, f.payload] };
    default: return { ...v, state };
  }
};

const mapValues = <A, B>(r: Readonly<Record<string, A>>, f: (a: A) => B): Record<string, B> => {
  const out: Record<string, B> = {};
  for (const [k, a] of Object.entries(r)) out[k] = f(a);
  return out;
};

/** Folds one entry. A certificate (no swarm fact) only moves the position. */
export const foldEntry = (s: ReplayState, e: ReplayEntry): ReplayState => {
  const f = e.fact;
  if (f === null) return { ...s, index: s.index + 1, seq: e.seq };
  const view = evolve(s.view, f);
  let workers = s.workers;
  if (f.type === "MinerJoined" && startsSession(workers[f.actor], f)) {
    const before = s.last === null ? null : { fact: s.last.fact, view: s.view };
    workers = { ...workers, [f.actor]: joinWorker(workers[f.actor], f, e.seq, before) };
  }
  return {
    index: s.index + 1, seq: e.seq, facts: s.facts + 1, view, last: { seq: e.seq, fact: f },
    workers: mapValues(workers, (w) => feedWorker(w, f, view, e.seq)),
    validators: mapValues(s.validators, (v) => foldValidator(v, f, view)),
  };
};

/** Folds the log's entries from `s` up to (not including) entry `to`. */
export const foldTo = (log: ReplayLog, s: ReplayState, to: number): ReplayState => {
  let x = s;
  for (let i = s.index; i < to; i++) x = foldEntry(x, log.entries[i] as ReplayEntry);
  return x;
};

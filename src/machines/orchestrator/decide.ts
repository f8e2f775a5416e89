// decide(command, state): the orchestrator's decisions. Level-triggered: `Advance` returns every
// fact the folded state calls for now, evolving its own decisions locally until nothing more is
// due, so the same state always yields the same batch, whatever facts it was built from — which is
// what lets a restarted orchestrator (or an auditor) fold the log and carry on identically.
import { Result } from "effect";
import { type SwarmFact, type SwarmRunConfig, swarmVersion } from "../../events/swarm/index.js";
import { evolve } from "./evolve.js";
import { assignments, kicks, timeouts } from "./rules/membership.js";
import { completions, leases, reissues, runCompletion } from "./rules/leases.js";
import { mergeProgress, mergeStarts } from "./rules/merges.js";
import type { Proposal, Rule } from "./rules/types.js";
import type { OrchestratorState } from "./state.js";

export type OrchestratorCommand =
  /** Record the run's configuration (the first fact of a run). */
  | { readonly type: "StartRun"; readonly config: SwarmRunConfig }
  /** Advance the logical clock by one tick (the host's timer; time enters only this way). */
  | { readonly type: "Tick" }
  /** Everything the folded state calls for now. The host sends it after folding each fact. */
  | { readonly type: "Advance" }
  /** An operator removes a miner. */
  | { readonly type: "KickMiner"; readonly miner: string };

export type Rejection =
  | { readonly _tag: "AlreadyStarted" }
  | { readonly _tag: "NotStarted" }
  | { readonly _tag: "InvalidConfig"; readonly reason: string }
  | { readonly _tag: "UnknownMiner"; readonly miner: string };

/**
 * A decision, ready for the envelope (an envelope Draft): deterministic id `${run}:o${seq}` (seq =
 * the orchestrator's actor-local sequence, so retried appends deduplicate), cause[0] = the basis
 * (id of the last fact folded when deciding, so an auditor re-runs over exactly that prefix), then
 * the facts it answers.
 */
export interface Decision {
  readonly id: string;
  readonly type: SwarmFact["type"];
  readonly v: number;
  readonly step: number;
  readonly cause: readonly string[];
  readonly payload: SwarmFact["payload"];
}

/** Rule priority: removals first, then closing work, then membership, merges, and new work last. */
export const RULES: readonly Rule[] = [timeouts, kicks, completions, reissues, assignments, mergeProgress, mergeStarts, runCompletion, leases];

/** Upper bound on decisions per Advance: a guard against a rule that never converges (a defect). */
export const MAX_BATCH = 100_000;

const seqOf = (s: OrchestratorState): number => (s.config === null ? 0 : s.seqs[s.config.orchestrator] ?? 0);

const decision = (run: string, seq: number, basis: string | null, step: number, p: Proposal): Decision => ({
  id: `${run}:o${seq}`,
  type: p.type,
  v: swarmVersion(p.type),
  step,
  cause: [...new Set([...(basis === null ? [] : [basis]), ...p.cause])],
  payload: p.payload,
});

/** A decision as the fact it becomes once the orchestrator (`actor`) appends it at `seq`. */
export const asFact = (d: Decision, actor: string, seq: number): SwarmFact =>
  ({ id: d.id, type: d.type, actor, seq, step: d.step, cause: d.cause, payload: d.payload }) as SwarmFact;

/** The first proposal of the highest-priority rule that has one. */
export const nextProposal = (s: OrchestratorState, nextId: string): Proposal | undefined => {
  if (s.config === null) return undefined;
  for (const rule of RULES) {
    const p = rule(s, { config: s.config, nextId });
    if (p !== undefined) return p;
  }
  return undefined;
};

const validate = (c: SwarmRunConfig): string | undefined => {
  if (c.stages.length < 1) return "a run needs at least one stage";
  if (c.stages.some((st) => st.params < 1)) return "every stage needs at least one parameter";
  const sch = c.schedule;
  for (const [k, v] of Object.entries(sch)) if (typeof v === "number" && (!Number.isInteger(v) || v < 0)) return `schedule.${k} must be a non-negative integer`;
  for (const k of ["datasetBatches", "maxInFlight", "leaseTicks", "heartbeatTimeoutTicks", "heartbeatEveryTicks", "partitions", "microbatchesPerStep"] as const)
    if (sch[k] < 1) return `schedule.${k} must be at least 1`;
  if (sch.mergeGatherTicks > sch.mergeDeadlineTicks) return "mergeGatherTicks must not exceed mergeDeadlineTicks";
  if (c.outer !== undefined && !(c.outer.lr > 0 && Number.isFinite(c.outer.lr) && c.outer.momentum >= 0 && c.outer.momentum < 1))
    return "outer.lr must be positive and outer.momentum in [0, 1)";
  return undefined;
};

/** Decides a command against the folded state: the facts to append, or a typed rejection. */
export const decide = (command: OrchestratorCommand, state: OrchestratorState): Result.Result<Decision[], Rejection> => {
  if (command.type === "StartRun") {
    if (state.config !== null) return Result.fail({ _tag: "AlreadyStarted" });
    const reason = validate(command.config);
    if (reason !== undefined) return Result.fail({ _tag: "InvalidConfig", reason });
    return Result.succeed([decision(command.config.run, 1, null, 0, { type: "SwarmRunStarted", payload: command.config, cause: [] })]);
  }
  const config = state.config;
  if (config === null) return Result.fail({ _tag: "NotStarted" });
  const seq = seqOf(state) + 1;
  if (command.type === "Tick")
    return Result.succeed([decision(config.run, seq, state.lastId, state.tick + 1, { type: "ClockTicked", payload: { tick: state.tick + 1 }, cause: [] })]);
  if (command.type === "KickMiner") {
    const m = state.miners[command.miner];
    if (m === undefined || m.status === "kicked") return Result.fail({ _tag: "UnknownMiner", miner: command.miner });
    return Result.succeed([decision(config.run, seq, state.lastId, state.tick, { type: "MinerKicked", payload: { miner: command.miner, reason: "operator" }, cause: [] })]);
  }
  const out: Decision[] = [];
  const basis = state.lastId;
  let s = state;
  for (let n = seq; out.length < MAX_BATCH; n++) {
    const p = nextProposal(s, `${config.run}:o${n}`);
    if (p === undefined) break;
    const d = decision(config.run, n, basis, s.tick, p);
    out.push(d);
    s = evolve(s, asFact(d, config.orchestrator, n));
  }
  return Result.succeed(out);
};

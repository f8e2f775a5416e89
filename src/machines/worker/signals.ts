// Which facts concern this miner, and as what: the worker's reading of the log. Pure; the host
// feeds every fact of the run, with its fold (`view`) of the log up to and including the fact.
import type { SwarmFact } from "../../events/swarm/index.js";
import type { MergeState, OrchestratorState } from "../orchestrator/index.js";
import { partitionBounds } from "../protocol/index.js";
import type { ReduceTask, Signal, WorkerContext } from "./types.js";

/** The run's snapshot codec as the worker's effects and tasks carry it: `{ codec: "bf16" }`, or nothing for float32. */
export const snapshotCodecOf = (view: OrchestratorState): { readonly codec?: "bf16" } =>
  view.config?.schedule.snapshotCodec === "bf16" ? { codec: "bf16" } : {};

/** The reduce task for one partition of a sealed merge (contributors in miner-id order). */
export const reduceTask = (view: OrchestratorState, g: MergeState, partition: number): ReduceTask | undefined => {
  if (g.sealed === null) return undefined;
  const contributors = g.sealed
    .map((q) => ({ miner: q.miner, samples: q.samples, ref: g.sent[q.miner]?.[partition] ?? "" }))
    .sort((a, b) => (a.miner < b.miner ? -1 : a.miner > b.miner ? 1 : 0));
  if (contributors.length === 0) return undefined;
  const rule = view.config?.outer;
  const stage = view.config?.stages[g.stage];
  const bounds = stage === undefined ? undefined : partitionBounds(stage.params, g.partitions.length)[partition];
  const reducers = g.partitions[partition]?.reducers ?? [];
  const codec = snapshotCodecOf(view);
  if (rule === undefined || stage === undefined || bounds === undefined) return { merge: g.id, stage: g.stage, partition, reducers, contributors, ...codec };
  const previous = view.stages[g.stage]?.results[partition] ?? null;
  return {
    merge: g.id, stage: g.stage, partition, reducers, contributors, ...codec,
    outer: { lr: rule.lr, momentum: rule.momentum, previous, initial: stage.weights, start: bounds.start, end: bounds.end },
  };
};

export const signalsOf = (ctx: WorkerContext, fact: SwarmFact, view: OrchestratorState): Signal[] => {
  const me = ctx.me;
  const orchestrator = view.config?.orchestrator;
  if (fact.type !== "SwarmRunStarted" && orchestrator !== undefined && fact.actor === orchestrator) {
    // Orchestrator decisions.
    switch (fact.type) {
      case "StageAssigned":
        return fact.payload.miner === me ? [{ type: "stage.assigned", stage: fact.payload.stage, weights: fact.payload.weights, epoch: fact.payload.epoch }] : [];
      case "MicrobatchLeased":
        return fact.payload.miner === me
          ? [{ type: "work.arrived", work: { kind: "forward", lease: fact.id, stage: 0, batch: fact.payload.batch, input: null, cause: fact.id } }]
          : [];
      case "MergeStarted":
        return fact.payload.stage === ctx.stage
          ? [{ type: "merge.started", merge: fact.id, participant: fact.payload.participants.some((q) => q.miner === me), partitions: fact.payload.partitions, reducers: fact.payload.reducers }]
          : [];
      case "MergeSealed": {
        const g = view.merges[fact.payload.merge];
        if (g === undefined) return [];
        return g.partitions.flatMap((p, i) => {
          const task = p.reducers.includes(me) ? reduceTask(view, g, i) : undefined;
          return task === undefined ? [] : [{ type: "reduce.requested" as const, task, cause: fact.id }];
        });
      }
      case "PartitionDisputed":
      case "PartitionReassigned": {
        const g = view.merges[fact.payload.merge];
        const task = fact.payload.reducer === me && g !== undefined ? reduceTask(view, g, fact.payload.partition) : undefined;
        return task === undefined ? [] : [{ type: "reduce.requested", task, cause: fact.id }];
      }
      case "MergeCompleted":
        return fact.payload.stage === ctx.stage
          ? [{ type: "merge.completed", merge: fact.payload.merge, epoch: fact.payload.epoch + 1, results: fact.payload.results }]
          : [];
      case "ClockTicked":
        return [{ type: "clock.ticked", tick: fact.payload.tick }];
      case "MicrobatchCompleted":
      case "MicrobatchReissued":
        return [{ type: "lease.closed", lease: fact.payload.lease }];
      case "MinerTimedOut":
      case "MinerKicked":
        return fact.payload.miner === me ? [{ type: "removed" }] : [];
      default:
        return [];
    }
  }
  // A validator's spot checks of this miner's pipeline work: open the weights the work ran with.
  if (fact.type === "SpotChecksDrawn")
    return fact.payload.checks.flatMap((c, i) =>
      c.miner === me && c.weights !== null ? [{ type: "open.requested" as const, weights: c.weights, check: `${fact.id}#${i}` }] : []);
  // Peer data-flow facts addressed to this miner.
  if (fact.type === "ActivationsForwarded" && fact.payload.to === me) {
    const lease = view.leases[fact.payload.lease];
    if (lease === undefined) return [];
    return [{ type: "work.arrived", work: { kind: "forward", lease: lease.id, stage: fact.payload.stage + 1, batch: lease.batch, input: fact.payload.ref, cause: fact.id } }];
  }
  if (fact.type === "GradientsReturned" && fact.payload.to === me)
    return [{ type: "work.arrived", work: { kind: "backward", lease: fact.payload.lease, stage: fact.payload.stage - 1, grad: fact.payload.ref, cause: fact.id } }];
  return [];
};

// evolveScorer(state, fact, view): the scorer's fold. Total and never throwing, like the
// orchestrator's: a fact that does not apply changes nothing. `view` is the orchestrator's fold
// through the same fact (the merge a PartitionAccepted belongs to is still open in it).
import { type Draft, produce } from "immer";
import type { SwarmFact } from "../../events/swarm/index.js";
import type { OrchestratorState } from "../orchestrator/index.js";
import { reduceTask } from "../worker/index.js";
import { emptyWindow, type LeaseWork, type ScorerState, type StageWork, type WindowState } from "./state.js";

type S = Draft<ScorerState>;

const current = (d: S): Draft<WindowState> | undefined => d.windows[d.windows.length - 1];

const stageOf = (d: S, lease: string, stage: number, batch: number | undefined): Draft<StageWork> | undefined => {
  const stages = d.config?.stages.length ?? 0;
  if (stage < 0 || stage >= stages) return undefined;
  let l = d.leases[lease];
  if (l === undefined) {
    if (batch === undefined) return undefined;
    l = d.leases[lease] = { id: lease, batch, stages: Array.from({ length: stages }, () => null) } as Draft<LeaseWork>;
  }
  return (l.stages[stage] ??= { miner: "", out: null, weights: null, loss: null, gradOut: null });
};

const close = (d: S, by: SwarmFact): void => {
  const w = current(d);
  if (w === undefined || w.closedBy !== null) return;
  w.closedBy = { id: by.id, beacon: by.hash ?? by.id };
  d.windows.push(emptyWindow(w.index + 1) as Draft<WindowState>);
};

/** The fact types the scorer reads; any other fact only moves its basis. */
const READS: ReadonlySet<string> = new Set<string>([
  "SwarmRunStarted", "ScoringStarted", "ActivationsForwarded", "LossComputed", "GradientsReturned", "MicrobatchReissued", "MicrobatchCompleted",
  "PartitionAccepted", "DisputeSettled", "RunCompleted", "SpotChecksDrawn", "SpotCheckPassed", "SpotCheckFailed", "MinerFlagged", "WeightsProposed",
]);

/** Folds one fact into the scorer's state. Returns `state` itself when nothing changes. */
export const evolveScorer = (state: ScorerState, fact: SwarmFact, view: OrchestratorState): ScorerState => {
  if (fact.seq <= (state.seqs[fact.actor] ?? 0)) return state;
  if (state.config === null && !(fact.type === "SwarmRunStarted" && fact.payload.orchestrator === fact.actor)) return state;
  // Most facts (heartbeats, ticks, backward passes, merge traffic) only move the basis: no draft.
  if (!READS.has(fact.type)) return { ...state, lastId: fact.id, seqs: { ...state.seqs, [fact.actor]: fact.seq } };
  return produce(state, (d) => {
    d.seqs[fact.actor] = fact.seq;
    d.lastId = fact.id;
    const orchestrator = d.config?.orchestrator;
    const byOrchestrator = fact.actor === orchestrator;
    const mine = fact.actor === d.me;
    switch (fact.type) {
      case "SwarmRunStarted":
        if (d.config === null) d.config = fact.payload as Draft<typeof fact.payload>;
        return;
      case "ScoringStarted":
        if (!mine || d.settings !== null || fact.payload.window < 1) return;
        d.settings = fact.payload as Draft<typeof fact.payload>;
        d.windows.push(emptyWindow(0) as Draft<WindowState>);
        return;
      case "ActivationsForwarded": {
        const w = stageOf(d, fact.payload.lease, fact.payload.stage, view.leases[fact.payload.lease]?.batch);
        if (w === undefined || (w.miner !== "" && w.miner !== fact.actor)) return;
        w.miner = fact.actor;
        w.out = fact.payload.ref;
        w.weights = fact.payload.weights;
        return;
      }
      case "LossComputed": {
        const last = (d.config?.stages.length ?? 0) - 1;
        const w = stageOf(d, fact.payload.lease, last, view.leases[fact.payload.lease]?.batch);
        if (w === undefined || (w.miner !== "" && w.miner !== fact.actor)) return;
        w.miner = fact.actor;
        w.loss = fact.payload.loss;
        w.weights = fact.payload.weights;
        return;
      }
      case "GradientsReturned": {
        const w = stageOf(d, fact.payload.lease, fact.payload.stage, undefined);
        if (w === undefined || w.miner !== fact.actor) return;
        w.gradOut = fact.payload.ref;
        return;
      }
      case "MicrobatchReissued":
        if (byOrchestrator) delete d.leases[fact.payload.lease];
        return;
      case "MicrobatchCompleted": {
        if (!byOrchestrator) return;
        d.completed += 1;
        const w = current(d);
        const settings = d.settings;
        if (w === undefined || settings === null) {
          delete d.leases[fact.payload.lease];
          return;
        }
        w.samples.push({ pathway: [...fact.payload.pathway], loss: fact.payload.loss, step: fact.step });
        w.leases.push(fact.payload.lease);
        if (d.completed % settings.window === 0) close(d, fact);
        return;
      }
      case "PartitionAccepted": {
        const w = current(d);
        const g = view.merges[fact.payload.merge];
        if (!byOrchestrator || w === undefined || g === undefined) return;
        const p = g.partitions[fact.payload.partition];
        const reducers = p === undefined ? fact.payload.reducers : p.reducers.filter((r) => p.claims[r] === fact.payload.hash);
        w.accepted.push({
          merge: fact.payload.merge, stage: g.stage, partition: fact.payload.partition, hash: fact.payload.hash, reducers: [...reducers],
          task: (reduceTask(view, g, fact.payload.partition) ?? null) as Draft<ReturnType<typeof reduceTask>> | null,
        } as Draft<WindowState["accepted"][number]>);
        return;
      }
      case "DisputeSettled": {
        const w = current(d);
        if (!byOrchestrator || w === undefined) return;
        for (const m of fact.payload.flagged) w.wrongReducers.push({ miner: m, detail: `merge ${fact.payload.merge} partition ${fact.payload.partition}: claimed a hash other than the settled ${fact.payload.hash.slice(0, 12)}` });
        return;
      }
      case "RunCompleted": {
        if (!byOrchestrator) return;
        d.done = true;
        const w = current(d);
        if (w !== undefined && w.samples.length > 0) close(d, fact);
        return;
      }
      case "SpotChecksDrawn": {
        const w = d.windows[fact.payload.window];
        if (!mine || w === undefined || w.checks !== null) return;
        w.checks = fact.payload.checks as Draft<typeof fact.payload.checks>;
        w.drawId = fact.id;
        // Evidence of the window's other leases is no longer needed.
        const keep = new Set(fact.payload.checks.map((c) => c.subject));
        for (const l of w.leases) if (!keep.has(l)) delete d.leases[l];
        return;
      }
      case "SpotCheckPassed":
      case "SpotCheckFailed": {
        const w = d.windows[fact.payload.window];
        if (!mine || w === undefined || w.checks === null || w.verdicts[fact.payload.check] !== undefined || fact.payload.check >= w.checks.length) return;
        w.verdicts[fact.payload.check] = { passed: fact.type === "SpotCheckPassed", distance: fact.payload.distance, id: fact.id };
        return;
      }
      case "MinerFlagged": {
        const p = fact.payload;
        if (mine && (p.reason === "spot-check" || p.reason === "wrong-reduction") && d.caught[p.miner] === undefined)
          d.caught[p.miner] = { window: p.window, reason: p.reason, detail: p.detail };
        return;
      }
      case "WeightsProposed": {
        const w = d.windows[fact.payload.window];
        if (mine && w !== undefined) w.scored = true;
        return;
      }
      default:
        return;
    }
  });
};

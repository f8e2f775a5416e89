// Folding the pipeline facts: leases open, pathways grow stage by stage as activations are
// forwarded, the loss and backward passes are recorded, and leases close as completed or reissued.
// Invariant: every microbatch index below nextMicrobatch is in exactly one of: completed, an open
// lease, the retry queue.
import type { Draft } from "immer";
import type { SwarmFact } from "../../events/swarm/index.js";
import type { OrchestratorState } from "./state.js";

type S = Draft<OrchestratorState>;

/** Pipeline facts; false if `fact` is of another kind. */
export const applyPipeline = (d: S, fact: SwarmFact): boolean => {
  const stages = d.stages.length;
  switch (fact.type) {
    case "MicrobatchLeased": {
      const p = fact.payload;
      if (d.leases[fact.id] !== undefined) return true;
      if (p.microbatch === d.nextMicrobatch) {
        d.nextMicrobatch += 1;
        d.counters.issued += 1;
      } else {
        const i = d.retry.findIndex((r) => r.microbatch === p.microbatch);
        if (i < 0) return true; // not waiting for a lease: a stale or forged decision
        d.retry.splice(i, 1);
      }
      d.leases[fact.id] = {
        id: fact.id, microbatch: p.microbatch, batch: p.batch, attempt: p.attempt, expires: p.expires,
        pathway: Array.from({ length: stages }, (_, s) => (s === 0 ? p.miner : null)),
        loss: null, tokens: 0, lossId: null, backward: Array.from({ length: stages }, () => null),
      };
      return true;
    }
    case "ActivationsForwarded": {
      const p = fact.payload;
      const l = d.leases[p.lease];
      const to = d.miners[p.to];
      if (l === undefined || p.stage < 0 || p.stage >= stages - 1) return true;
      if (l.pathway[p.stage] !== fact.actor || l.pathway[p.stage + 1] !== null) return true;
      if (to === undefined || to.status !== "active" || to.stage !== p.stage + 1) return true;
      l.pathway[p.stage + 1] = p.to;
      return true;
    }
    case "LossComputed": {
      const l = d.leases[fact.payload.lease];
      if (l === undefined || l.pathway[stages - 1] !== fact.actor || l.loss !== null) return true;
      l.loss = fact.payload.loss;
      l.tokens = fact.payload.tokens;
      l.lossId = fact.id;
      return true;
    }
    case "BackwardCompleted": {
      const { lease, stage } = fact.payload;
      const l = d.leases[lease];
      if (l === undefined || stage < 0 || stage >= stages) return true;
      if (l.pathway[stage] !== fact.actor || l.backward[stage] !== null) return true;
      const ready = stage === stages - 1 ? l.loss !== null : l.backward[stage + 1] !== null;
      if (!ready) return true;
      l.backward[stage] = fact.id;
      const m = d.miners[fact.actor];
      if (m !== undefined) m.samples += 1;
      (d.stages[stage] as S["stages"][number]).sinceMerge += 1;
      return true;
    }
    case "MicrobatchCompleted": {
      const l = d.leases[fact.payload.lease];
      if (l === undefined) return true;
      delete d.leases[fact.payload.lease];
      d.counters.completed += 1;
      d.counters.tokens += l.tokens;
      return true;
    }
    case "MicrobatchReissued": {
      const l = d.leases[fact.payload.lease];
      if (l === undefined) return true;
      delete d.leases[fact.payload.lease];
      d.retry.push({ microbatch: l.microbatch, batch: l.batch, attempt: l.attempt + 1 });
      d.counters.reissued += 1;
      return true;
    }
    case "GradientsReturned":
    case "OptimizerStepped":
      return true; // data-flow and local facts: liveness only
    default:
      return false;
  }
};

// Folding the Butterfly All-Reduce facts of a stage's merge: plan, contributions, seal, reducer
// claims, verdicts, completion. Invariant: a partition's claims only come from its assigned
// reducers, one each, and only after the contributor set is sealed.
import type { Draft } from "immer";
import type { SwarmFact } from "../../events/swarm/index.js";
import type { OrchestratorState } from "./state.js";

type S = Draft<OrchestratorState>;

/** Merge facts; false if `fact` is of another kind. */
export const applyMerge = (d: S, fact: SwarmFact): boolean => {
  switch (fact.type) {
    case "MergeStarted": {
      const p = fact.payload;
      const st = d.stages[p.stage];
      if (st === undefined || st.phase !== "training" || d.merges[fact.id] !== undefined) return true;
      st.phase = "merging";
      st.merge = fact.id;
      st.sinceMerge = 0;
      for (const q of p.participants) {
        const m = d.miners[q.miner];
        if (m !== undefined) m.samples = Math.max(0, m.samples - q.samples);
      }
      d.merges[fact.id] = {
        id: fact.id, stage: p.stage, epoch: p.epoch, participants: p.participants.map((q) => ({ ...q })),
        sent: {}, sentIds: [], sealed: null, gatherDeadline: p.gatherDeadline, deadline: p.deadline,
        partitions: p.reducers.map((rs) => ({
          reducers: [...rs], claims: {}, claimIds: [], replaced: [], status: "open", hash: null, disputed: false, settled: false,
        })),
      };
      return true;
    }
    case "PartitionsSent": {
      const g = d.merges[fact.payload.merge];
      if (g === undefined || g.sealed !== null || g.sent[fact.actor] !== undefined) return true;
      if (!g.participants.some((q) => q.miner === fact.actor) || fact.payload.refs.length !== g.partitions.length) return true;
      g.sent[fact.actor] = [...fact.payload.refs];
      g.sentIds.push(fact.id);
      return true;
    }
    case "MergeSealed": {
      const g = d.merges[fact.payload.merge];
      if (g !== undefined && g.sealed === null) g.sealed = fact.payload.contributors.map((q) => ({ ...q }));
      return true;
    }
    case "PartitionReduced": {
      const g = d.merges[fact.payload.merge];
      const part = g?.partitions[fact.payload.partition];
      if (g === undefined || g.sealed === null || part === undefined || part.status !== "open") return true;
      if (!part.reducers.includes(fact.actor) || part.claims[fact.actor] !== undefined) return true;
      part.claims[fact.actor] = fact.payload.hash;
      part.claimIds.push(fact.id);
      return true;
    }
    case "PartitionAccepted": {
      const part = d.merges[fact.payload.merge]?.partitions[fact.payload.partition];
      if (part !== undefined && part.status === "open") {
        part.status = "accepted";
        part.hash = fact.payload.hash;
      }
      return true;
    }
    case "PartitionDisputed":
    case "PartitionReassigned": {
      const part = d.merges[fact.payload.merge]?.partitions[fact.payload.partition];
      if (part === undefined || part.status !== "open" || part.reducers.includes(fact.payload.reducer)) return true;
      part.reducers.push(fact.payload.reducer);
      if (fact.type === "PartitionReassigned") part.replaced.push(fact.payload.replaces);
      if (fact.type === "PartitionDisputed" && !part.disputed) {
        part.disputed = true;
        d.counters.disputes += 1;
      }
      return true;
    }
    case "DisputeSettled": {
      const part = d.merges[fact.payload.merge]?.partitions[fact.payload.partition];
      if (part === undefined || part.settled) return true;
      part.settled = true;
      for (const f of fact.payload.flagged) {
        const m = d.miners[f];
        if (m !== undefined) m.flagged = true;
      }
      return true;
    }
    case "MergeCompleted": {
      const g = d.merges[fact.payload.merge];
      if (g === undefined) return true;
      delete d.merges[fact.payload.merge];
      const st = d.stages[g.stage];
      if (st !== undefined) {
        st.phase = "training";
        st.merge = null;
        st.epoch += 1;
        fact.payload.results.forEach((h, i) => {
          if (h !== null) st.results[i] = h;
          else if (st.results[i] === undefined) st.results[i] = null;
        });
      }
      d.counters.mergesDone += 1;
      d.counters.partitionsAccepted += fact.payload.accepted;
      d.counters.partitionsSkipped += fact.payload.skipped;
      return true;
    }
    default:
      return false;
  }
};

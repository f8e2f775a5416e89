// One miner's part of a snapshot (`replay --actor`, a dashboard's miner page): its orchestrator
// record, its rebuilt machine, the leases whose pathway it is on, the merges it sends to or reduces
// for, and what validators scored and flagged it. Stages, counters and the retry queue stay: they
// are what its state is read against.
import type { RunSnapshot } from "./types.js";

const pick = <A>(r: Readonly<Record<string, A>>, keep: (a: A, k: string) => boolean): Record<string, A> =>
  Object.fromEntries(Object.entries(r).filter(([k, a]) => keep(a, k)));

export const focusSnapshot = (s: RunSnapshot, miner: string): RunSnapshot => {
  const o = s.orchestrator;
  return {
    ...s,
    orchestrator: o === null ? null : {
      ...o,
      miners: pick(o.miners, (_, id) => id === miner),
      leases: pick(o.leases, (l) => l.pathway.includes(miner)),
      merges: pick(o.merges, (g) => g.participants.some((q) => q.miner === miner) || g.partitions.some((p) => p.reducers.includes(miner))),
    },
    workers: pick(s.workers, (_, id) => id === miner),
    scores: Object.fromEntries(Object.entries(s.scores).map(([id, v]) => [id, {
      ...v,
      contributions: v.contributions.filter((c) => c.miner === miner),
      flags: v.flags.filter((f) => f.miner === miner),
      weights: v.weights.map((w) => ({ ...w, entries: w.entries.filter((e) => e.hotkey === miner) })),
      caught: pick(v.caught, (_, id) => id === miner),
    }])),
  };
};

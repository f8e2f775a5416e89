// Which work a validator re-executes in a window (DESIGN "CLASP", spot checks): every miner's
// pipeline work is sampled (`spotPerMiner` each), and a share of the window's accepted merge
// partitions (at least one per reducer), from rngFor(seed, "spot", validator, window, beacon),
// where the beacon is the hash of the fact that closed the window: no miner knew it while it worked.
import type { SpotTarget } from "../../events/swarm/index.js";
import { byCodeUnit, rngFor, shuffled } from "../protocol/index.js";
import type { ScorerState, WindowState } from "./state.js";

const KIND_ORDER = { forward: 0, loss: 1, backward: 2, reduce: 3 } as const;

const order = (a: SpotTarget, b: SpotTarget): number =>
  byCodeUnit(a.miner, b.miner) || byCodeUnit(a.subject, b.subject) || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.stage - b.stage || (a.partition ?? -1) - (b.partition ?? -1);

/** Every pipeline check the window's completed leases allow, by miner, in a fixed order. */
export const pipelineCandidates = (s: ScorerState, w: WindowState): Map<string, SpotTarget[]> => {
  const last = (s.config?.stages.length ?? 1) - 1;
  const by = new Map<string, SpotTarget[]>();
  const add = (t: SpotTarget): void => {
    const xs = by.get(t.miner) ?? [];
    xs.push(t);
    by.set(t.miner, xs);
  };
  for (const id of w.leases) {
    const l = s.leases[id];
    if (l === undefined) continue;
    l.stages.forEach((st, stage) => {
      if (st === null || st.miner === "") return;
      const base = { miner: st.miner, stage, subject: id, partition: null, weights: st.weights };
      if (stage === last) add({ ...base, kind: "loss" });
      else {
        add({ ...base, kind: "forward" });
        if (stage > 0 && st.gradOut !== null) add({ ...base, kind: "backward" });
      }
    });
  }
  for (const xs of by.values()) xs.sort(order);
  return by;
};

/** The window's draw: pipeline checks per miner (miner order), then reduction checks (partition order). */
export const drawChecks = (s: ScorerState, w: WindowState, beacon: string): SpotTarget[] => {
  const settings = s.settings;
  const config = s.config;
  if (settings === null || config === null) return [];
  const out: SpotTarget[] = [];
  const byMiner = pipelineCandidates(s, w);
  for (const miner of [...byMiner.keys()].sort(byCodeUnit)) {
    const xs = byMiner.get(miner) as SpotTarget[];
    out.push(...shuffled(xs, rngFor(config.seed, "spot", s.me, w.index, beacon, miner)).slice(0, settings.spotPerMiner).sort(order));
  }
  const parts = [...w.accepted].sort((a, b) => byCodeUnit(a.merge, b.merge) || a.partition - b.partition);
  const r = rngFor(config.seed, "spot-reduce", s.me, w.index, beacon);
  const picked = parts.map(() => r.float() < settings.reduceRate);
  // At least one check per reducer of the window.
  const reducers = [...new Set(parts.flatMap((p) => p.reducers))].sort(byCodeUnit);
  for (const m of reducers) {
    if (parts.some((p, i) => picked[i] === true && p.reducers.includes(m))) continue;
    const mine = parts.flatMap((p, i) => (p.reducers.includes(m) ? [i] : []));
    const i = mine[r.int(mine.length)];
    if (i !== undefined) picked[i] = true;
  }
  parts.forEach((p, i) => {
    if (picked[i] === true) out.push({ miner: p.reducers[0] ?? "", kind: "reduce", stage: p.stage, subject: p.merge, partition: p.partition, weights: null });
  });
  return out;
};

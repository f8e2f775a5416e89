// Membership rules: heartbeat timeouts ("more than N ticks with no fact", decided when a tick is
// folded), kicks of flagged reducers, and stage assignment (fewest miners first; ties to the
// weaker stage by total measured throughput, then the lowest index).
import { isLive, type MinerState, type OrchestratorState } from "../state.js";
import type { Rule } from "./types.js";

const byJoin = (s: OrchestratorState): MinerState[] => Object.values(s.miners).sort((a, b) => a.joinOrder - b.joinOrder);

export const timeouts: Rule = (s, { config }) => {
  const limit = config.schedule.heartbeatTimeoutTicks;
  const m = byJoin(s).find((x) => isLive(x) && s.tick - x.lastSeen > limit);
  return m && { type: "MinerTimedOut", payload: { miner: m.id, lastSeen: m.lastSeen }, cause: [] };
};

export const kicks: Rule = (s) => {
  const m = byJoin(s).find((x) => x.flagged && x.status !== "kicked");
  return m && { type: "MinerKicked", payload: { miner: m.id, reason: "wrong-reduction" }, cause: [] };
};

/**
 * The stage a joining miner should serve: the fewest assigned-or-active miners; ties go to the
 * stage with the lower total throughput, then to the lowest index.
 */
export const chooseStage = (s: OrchestratorState): number => {
  const load = s.stages.map(() => ({ n: 0, tp: 0 }));
  for (const m of Object.values(s.miners)) {
    if ((m.status === "assigned" || m.status === "active") && m.stage !== null) {
      const l = load[m.stage];
      if (l !== undefined) {
        l.n += 1;
        l.tp += m.throughput;
      }
    }
  }
  let best = 0;
  for (let i = 1; i < load.length; i++) {
    const a = load[i] as { n: number; tp: number };
    const b = load[best] as { n: number; tp: number };
    if (a.n < b.n || (a.n === b.n && a.tp < b.tp)) best = i;
  }
  return best;
};

export const assignments: Rule = (s) => {
  const m = byJoin(s).find((x) => x.status === "joined");
  if (m === undefined) return undefined;
  const stage = chooseStage(s);
  const st = s.stages[stage];
  if (st === undefined) return undefined;
  return { type: "StageAssigned", payload: { miner: m.id, stage, weights: st.weights, epoch: st.weightsEpoch }, cause: [] };
};

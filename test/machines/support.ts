// Test support for the swarm machines: a small sim config and miner roster.
import type { SimMiner, SimOptions } from "../../src/machines/sim/index.js";

export const schedule = {
  totalMicrobatches: 40, datasetBatches: 25, tokensPerMicrobatch: 128, maxInFlight: 4, leaseTicks: 30,
  heartbeatTimeoutTicks: 6, heartbeatEveryTicks: 2, mergeEvery: 8, bMin: 2, partitions: 4, mergeGatherTicks: 4,
  mergeDeadlineTicks: 10, microbatchesPerStep: 2, overlapMerges: false, routing: "proportional" as "proportional" | "least-loaded", mergeInterval: "fixed" as "fixed" | "lr-scaled",
};

export const miners = (n: number, capacity = 2): SimMiner[] =>
  Array.from({ length: n }, (_, i) => ({ id: `m${String(i).padStart(2, "0")}`, capacity }));

export const simOptions = (over: Partial<SimOptions> = {}, sched: Partial<typeof schedule> = {}): SimOptions => ({
  config: { run: "r1", seed: "seed-1", model: { kind: "fake" }, params: [40, 40, 40], schedule: { ...schedule, ...sched } },
  miners: miners(6),
  maxTicks: 400,
  ...over,
});

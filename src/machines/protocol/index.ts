// Protocol math of the swarm: seeded randomness, stochastic wiring, data assignment, Butterfly
// All-Reduce partitioning and averaging, merge traffic. Pure functions only.
export { byCodeUnit, hash128, rngFor, shuffled, xoshiro128, type Rng } from "./rng.js";
export { pickPeer, routeWeight, type PeerLoad, type Routing } from "./routing.js";
export { batchFor, permute } from "./data.js";
export { assignReducers, chooseExtraReducer, partitionBounds, REDUCERS_PER_PARTITION, type Partition } from "./partitions.js";
export {
  adoptPartition, digestBytes, f32Bytes, outerStep, packOuter, reduceResult, resultParams, unpackOuter, weightedAverage, type Contribution, type OuterBasis, type OuterRule,
} from "./average.js";
export { mergeTraffic, type MergeTraffic, partitionBytesSent } from "./traffic.js";
export { bf16Bytes, bf16Codes, roundToBf16, snapshotBytesPerValue, type SnapshotCodec, widenBf16 } from "./bf16.js";
export { globalStep, localStepLr, lrScheduleOf, MAX_DEFERRED, MAX_MERGE_STRETCH, mergeInterval, scheduledLr, type LrSchedule } from "./lr.js";

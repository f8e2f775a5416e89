// The swarm's imperative shell: hosts that bind the orchestrator decider and the stage-worker
// machine to JetStream (facts, data, blobs) and to the ORT kernels, plus the one-process sim.
export { blobRef, BlobCorrupt, BlobMissing, bytesToF32, f32ToBytes, getF32, memoryBlobStore, putF32, type BlobStore } from "./blob-store.js";
export { MinerCompute } from "./compute.js";
export { reducePartition } from "./merge-io.js";
export { datasetBatch, StageKernels } from "./stage-kernels.js";
export { validationBpb, valBatches } from "./evaluate.js";
export { startRunFeed, type FeedHead, type FeedItem, type RunFeed } from "./feed.js";
export { startMinerHost, type MinerHost, type MinerHostOptions } from "./miner-host.js";
export { initialStageWeights, readModel, stageLayout, swarmLr, type SwarmModel, type SwarmOptim } from "./model.js";
export { startOrchestratorHost, type OrchestratorHost, type OrchestratorHostOptions } from "./orchestrator-host.js";
export { buildRunConfig, scheduleOf, swarmModelOf, type SwarmSettings } from "./run-config.js";
export { runSwarmSim, type SimOptions, type SimProgress, type SimResult } from "./sim-run.js";
export { ActorWriter, openWriter } from "./writer.js";

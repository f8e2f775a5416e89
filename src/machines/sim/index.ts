// The pure swarm simulator and its compute seam.
export { simulate, type DeliveryFaults, type SimMiner, type SimOptions, type SimResult } from "./sim.js";
export { fakeCompute, initialWeights, memoryBlobs, type BlobStore, type ComputeModel, type FakeComputeOptions } from "./compute.js";

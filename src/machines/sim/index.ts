// The pure swarm simulator and its compute seam.
export { simulate, simulateAsync, type AsyncSimOptions, type DeliveryFaults, type SimMiner, type SimOptions, type SimResult } from "./sim.js";
export { ADVERSARY_KINDS, fakeCompute, initialWeights, memoryBlobs, NOISE_PENALTY, type AdversaryKind, type AsyncComputeModel, type BlobStore, type CheckOutcome, type ComputeModel, type Loaded, type FakeComputeOptions } from "./compute.js";

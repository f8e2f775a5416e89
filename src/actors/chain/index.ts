// The chain adapter: the only place that talks to subtensor through @polkadot/api.
export { commitHash, commitPreimage, freshSalt } from "./commit.js";
export { type ChainEndpoint, type ChainProvider, connectChain, SUBTENSOR_SIGNED_EXTENSIONS } from "./connect.js";
export * from "./errors.js";
export { hotkeyPair } from "./keys.js";
export { type ChainNeuron, type Metagraph, metagraphJson, type MetagraphReader, metagraphReader, readMetagraph, type WeightHyperparameters } from "./metagraph.js";
export { appendWeightsSubmitted, type RecordBasis, recordBasis, recordedSubmission, RecordRefused, type RecordOptions, sealWeightsSubmitted } from "./log-record.js";
export { dropUnrecorded, findUnrecorded, putUnrecorded, type UnrecordedPayment } from "./paid.js";
export { recordOnRun } from "./run-record.js";
export { weightsSubmittedPayload } from "./record.js";
export { checkValidator, maxUpscale, type PayoutRow, weightVector, type WeightVector } from "./vector.js";
export { type ExtrinsicPreview, type PayoutRequest, planWeights, revealPending, signedPreview, type Submission, submitPlan, type WeightsPlan } from "./weights.js";

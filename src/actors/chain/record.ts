// What the log records of a submission: the WeightsSubmitted payload, so an auditor can find the
// extrinsic on chain and compare its vector with the window's WeightsProposed.
import type { SwarmPayloads } from "../../events/swarm/index.js";
import type { Submission } from "./weights.js";

export const weightsSubmittedPayload = (s: Submission): SwarmPayloads["WeightsSubmitted"] => ({
  window: s.window, netuid: s.netuid, call: s.call, extrinsic: s.extrinsic, block: s.block, blockHash: s.blockHash,
  uids: [...s.uids], values: [...s.values], versionKey: s.versionKey, commitHash: s.commitHash,
});

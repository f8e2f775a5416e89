// Reading back after an extrinsic: the chain must hold what was sent, or the payout fails loudly.
import type { ApiPromise } from "@polkadot/api";
import { afterEach, describe, expect, it } from "vitest";
import { confirmWeights } from "../../../src/actors/chain/confirm.js";
import { connectChain } from "../../../src/actors/chain/connect.js";
import { WeightsNotHeld } from "../../../src/actors/chain/errors.js";
import { NETUID, testSubnet } from "./support/subnet.js";

let api: ApiPromise | undefined;
afterEach(async () => {
  await api?.disconnect();
  api = undefined;
});

describe("confirmWeights", () => {
  it("fails with WeightsNotHeld after its tries when the chain holds other weights, and passes when it holds these", async () => {
    const { node } = await testSubnet();
    node.subnets.get(NETUID)?.weights.set(0, [[1, 65535]]);
    api = await connectChain(node);
    let waits = 0;
    const poll = { tries: 3, wait: async () => { waits += 1; } };
    await expect(confirmWeights(api, NETUID, 0, { uids: [2], values: [65535] }, poll)).rejects.toBeInstanceOf(WeightsNotHeld);
    expect(waits).toBe(2);
    await expect(confirmWeights(api, NETUID, 0, { uids: [1], values: [7] }, poll)).resolves.toBeUndefined();
  });
});

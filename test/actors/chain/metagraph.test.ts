// The metagraph read through ApiPromise against an in-process node serving real subtensor metadata.
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ApiPromise } from "@polkadot/api";
import { connectChain } from "../../../src/actors/chain/connect.js";
import { ChainUnavailable, UnknownNetuid } from "../../../src/actors/chain/errors.js";
import { metagraphReader, readMetagraph } from "../../../src/actors/chain/metagraph.js";
import { MemorySubtensor } from "./support/provider.js";
import type { Subnet } from "./support/runtime.js";
import { NETUID, testSubnet } from "./support/subnet.js";

let keyring: Keyring;
beforeAll(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
});

let api: ApiPromise | undefined;
afterEach(async () => {
  await api?.disconnect();
  api = undefined;
});

describe("readMetagraph", () => {
  it("reads uids, hotkeys, stake, permits and the weight hyperparameters of a subnet", async () => {
    const hk = ["//Validator", "//Miner1", "//Miner2"].map((u) => keyring.addFromUri(u).address);
    const node = new MemorySubtensor([{ netuid: 7, neurons: hk.map((h, i) => ({ hotkey: h, stake: BigInt(i === 0 ? "12345678901234567" : i), permit: i === 0 })), minAllowedWeights: 2, maxWeightsLimit: 30000, weightsSetRateLimit: 50, weightsVersionKey: 3, commitRevealEnabled: true, tempo: 20 }]);
    api = await connectChain(node);
    const m = await readMetagraph(api, 7);
    expect(m.neurons).toEqual([
      { uid: 0, hotkey: hk[0], stake: 12345678901234567n, validatorPermit: true, lastUpdate: 0 },
      { uid: 1, hotkey: hk[1], stake: 1n, validatorPermit: false, lastUpdate: 0 },
      { uid: 2, hotkey: hk[2], stake: 2n, validatorPermit: false, lastUpdate: 0 },
    ]);
    expect(m.hyperparameters).toEqual({ minAllowedWeights: 2, maxWeightsLimit: 30000, weightsSetRateLimit: 50, weightsVersionKey: 3, commitRevealEnabled: true, tempo: 20, revealPeriodEpochs: 1 });
    expect(m.block).toBe(node.head.number);
  });

  it("refuses a netuid the chain does not have", async () => {
    api = await connectChain(new MemorySubtensor([{ netuid: 1, neurons: [] }]));
    await expect(readMetagraph(api, 2)).rejects.toBeInstanceOf(UnknownNetuid);
  });
});

describe("metagraphReader", () => {
  it("sees on its next read a hotkey that took over a uid a block later, and a lapsed permit", async () => {
    const { node, hotkeys } = await testSubnet();
    const reader = await metagraphReader(node, NETUID);
    try {
      const before = await reader.read();
      expect(before.neurons.map((n) => n.hotkey)).toEqual(hotkeys);
      const net = node.subnets.get(NETUID) as Subnet;
      const newcomer = keyring.addFromUri("//Newcomer").address;
      net.neurons[3] = { hotkey: newcomer, stake: 1n, permit: false };
      net.neurons[0] = { ...(net.neurons[0] as Subnet["neurons"][number]), permit: false };
      node.advance(1);
      const after = await reader.read();
      expect(after.block).toBe(before.block + 1);
      expect(after.neurons[3]?.hotkey).toBe(newcomer);
      expect(after.neurons.map((n) => n.validatorPermit)).toEqual([false, false, false, false, false, false]);
    } finally {
      await reader.close();
    }
  });

  it("reports a read the node fails as ChainUnavailable naming the subnet, and reads again once the node answers", async () => {
    const { node } = await testSubnet();
    const reader = await metagraphReader(node, NETUID);
    const send = node.send.bind(node);
    try {
      node.send = () => Promise.reject(new Error("connection reset by peer"));
      const e = await reader.read().then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(ChainUnavailable);
      expect((e as ChainUnavailable).message).toMatch(/^cannot read subnet 3: .*connection reset by peer/);
      node.send = send;
      expect((await reader.read()).netuid).toBe(NETUID);
    } finally {
      node.send = send;
      await reader.close();
    }
  });
});

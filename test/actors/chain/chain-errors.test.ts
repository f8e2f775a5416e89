// What the chain itself refuses, after the adapter checked a snapshot that then went stale (the
// chain moved between the read and the send): each module error comes back decoded with the real
// metadata as a typed error with sent = true, and the chain stores nothing. A bad signature is
// refused by the node's pool: no block holds the extrinsic.
import type { ApiPromise } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import { afterEach, describe, expect, it } from "vitest";
import { connectChain } from "../../../src/actors/chain/connect.js";
import { moduleError } from "../../../src/actors/chain/dispatch.js";
import { BadSignature, ChainRejected, CommitRevealMismatch, HotkeyNotRegistered, UnknownNetuid, WeightsInvalid, WeightsRateLimited } from "../../../src/actors/chain/errors.js";
import { planWeights, submitPlan } from "../../../src/actors/chain/weights.js";
import type { MemorySubtensor } from "./support/provider.js";
import { NETUID, testSubnet } from "./support/subnet.js";

let api: ApiPromise | undefined;
afterEach(async () => {
  await api?.disconnect();
  api = undefined;
});

const staleCases: Array<[string, (node: MemorySubtensor, hotkeys: readonly string[]) => void, unknown, string]> = [
  ["commit-reveal switched on", (n) => { (n.subnets.get(NETUID) as { commitRevealEnabled: boolean }).commitRevealEnabled = true; }, CommitRevealMismatch, "CommitRevealEnabled"],
  ["weights set meanwhile", (n) => { (n.subnets.get(NETUID)?.lastUpdate as number[])[0] = n.head.number; }, WeightsRateLimited, "SettingWeightsTooFast"],
  ["validator deregistered", (n, h) => { n.subnets.get(NETUID)?.neurons.splice(0, 1, { hotkey: h[5] as string, stake: 1n, permit: true }); }, HotkeyNotRegistered, "HotKeyNotRegisteredInSubNet"],
  ["subnet dissolved", (n) => { n.subnets.delete(NETUID); }, UnknownNetuid, "SubNetworkDoesNotExist"],
  ["min_allowed_weights raised", (n) => { (n.subnets.get(NETUID) as { minAllowedWeights: number }).minAllowedWeights = 5; }, WeightsInvalid, "WeightVecLengthIsLow"],
  ["version key raised", (n) => { (n.subnets.get(NETUID) as { weightsVersionKey: number }).weightsVersionKey = 9; }, WeightsInvalid, "IncorrectWeightVersionKey"],
];

describe("chain errors", () => {
  for (const [name, mutate, kind, runtimeName] of staleCases) {
    it(`maps the runtime's ${runtimeName} (${name} after the read) to ${(kind as { name: string }).name}, and nothing is stored`, async () => {
      const { node, validator, hotkeys } = await testSubnet();
      api = await connectChain(node);
      const req = { netuid: NETUID, pair: validator, window: 0, rows: [{ hotkey: hotkeys[1] as string, uid: 1, weight: 65535 }] };
      const plan = await planWeights(api, req);
      mutate(node, hotkeys);
      const err = await submitPlan(api, plan, req, { tries: 1 }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(kind);
      expect(err).toMatchObject({ sent: true, message: expect.stringContaining(runtimeName) });
      expect(node.submitted.map((x) => x.outcome)).toEqual([{ ok: false, error: runtimeName }]);
      expect(node.subnets.get(NETUID)?.weights.size ?? 0).toBe(0);
    });
  }

  it("maps a bad signature refused by the pool to BadSignature, with no extrinsic in any block", async () => {
    const { node, validator, hotkeys } = await testSubnet();
    api = await connectChain(node);
    // The same account, but every signature it makes has one bit flipped.
    const forger = Object.create(validator, {
      sign: { value: (m: Uint8Array, o?: { withType?: boolean }) => { const s = validator.sign(m, o); s[s.length - 1] = (s[s.length - 1] as number) ^ 1; return s; } },
    }) as KeyringPair;
    const req = { netuid: NETUID, pair: forger, window: 0, rows: [{ hotkey: hotkeys[1] as string, uid: 1, weight: 65535 }] };
    const err = await submitPlan(api, await planWeights(api, req), req, { tries: 1 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BadSignature);
    expect(node.submitted).toHaveLength(0);
    expect(node.subnets.get(NETUID)?.weights.size).toBe(0);
  });

  it("names every weight error of the runtime with the rule it breaks", () => {
    const c = { netuid: 3, hotkey: "5x" };
    expect(moduleError("WeightVecNotEqualSize", "", c)).toMatchObject({ _tag: "WeightsInvalid", rule: "length", sent: true });
    expect(moduleError("UidsLengthExceedUidsInSubNet", "", c)).toMatchObject({ _tag: "WeightsInvalid", rule: "length" });
    expect(moduleError("MaxWeightExceeded", "", c)).toMatchObject({ _tag: "WeightsInvalid", rule: "max-weight-limit" });
    expect(moduleError("CommitRevealDisabled", "", c)).toMatchObject({ _tag: "CommitRevealMismatch", enabled: false });
    expect(moduleError("InvalidRevealCommitHashNotMatch", "", c)).toMatchObject({ _tag: "RevealRefused", reason: "hash-mismatch" });
    expect(moduleError("SomethingNew", "", c)).toBeInstanceOf(ChainRejected);
  });
});

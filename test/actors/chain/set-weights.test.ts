// set_weights through ApiPromise on the in-process node: the node decodes the extrinsic with the
// real metadata and checks its signature, so what is asserted here is what a chain would get.
import type { ApiPromise } from "@polkadot/api";
import { afterEach, describe, expect, it } from "vitest";
import { connectChain } from "../../../src/actors/chain/connect.js";
import { HotkeyNotRegistered, WeightsInvalid, WeightsRateLimited } from "../../../src/actors/chain/errors.js";
import { planWeights, signedPreview, submitPlan } from "../../../src/actors/chain/weights.js";
import { NETUID, testSubnet } from "./support/subnet.js";

let api: ApiPromise | undefined;
afterEach(async () => {
  await api?.disconnect();
  api = undefined;
});

describe("set_weights", () => {
  it("sends the payout as set_weights with sorted uids, u16 values and the subnet's version key, and reads it back", async () => {
    const { node, validator, hotkeys } = await testSubnet({ weightsVersionKey: 7 });
    api = await connectChain(node);
    const rows = [{ hotkey: hotkeys[4] as string, uid: 4, weight: 65535 }, { hotkey: hotkeys[2] as string, uid: 2, weight: 30000 }];
    const req = { netuid: NETUID, pair: validator, window: 0, rows };
    const s = await submitPlan(api, await planWeights(api, req), req, { tries: 1 });
    expect(node.submitted).toHaveLength(1);
    const x = node.submitted[0];
    expect(x).toMatchObject({ signer: validator.address, section: "subtensorModule", method: "set_weights", args: { netuid: NETUID, dests: [2, 4], weights: [30000, 65535], version_key: 7 }, outcome: { ok: true } });
    expect(s).toMatchObject({ call: "set_weights", extrinsic: x?.hash, block: x?.block, netuid: NETUID, uids: [2, 4], values: [30000, 65535] });
    expect(node.subnets.get(NETUID)?.weights.get(0)).toEqual([[2, 30000], [4, 65535]]);
  });

  it("pads a short payout with zero weights up to min_allowed_weights, lowest uids first", async () => {
    const { node, validator, hotkeys } = await testSubnet({ minAllowedWeights: 4 });
    api = await connectChain(node);
    const req = { netuid: NETUID, pair: validator, window: 1, rows: [{ hotkey: hotkeys[5] as string, uid: 5, weight: 65535 }] };
    await submitPlan(api, await planWeights(api, req), req, { tries: 1 });
    expect(node.submitted[0]?.args).toMatchObject({ dests: [0, 1, 2, 5], weights: [0, 0, 0, 65535] });
  });

  it("prints in a dry run the signed extrinsic that decodes to the call, and sends nothing", async () => {
    const { node, validator, hotkeys } = await testSubnet();
    api = await connectChain(node);
    const req = { netuid: NETUID, pair: validator, window: 0, rows: [{ hotkey: hotkeys[1] as string, uid: 1, weight: 65535 }] };
    const p = await signedPreview(await planWeights(api, req), validator);
    expect(node.submitted).toHaveLength(0);
    expect(node.calls).not.toContain("author_submitAndWatchExtrinsic");
    const decoded = node.registry.createType("Extrinsic", p.hex);
    expect(decoded.signer.toString()).toBe(validator.address);
    expect(decoded.method.section).toBe("subtensorModule");
    expect(decoded.method.toJSON()).toMatchObject({ args: { netuid: NETUID, dests: [1], weights: [65535], version_key: 0 } });
    expect(p).toMatchObject({ section: "subtensorModule", method: "set_weights", args: { netuid: NETUID, dests: [1], weights: [65535], version_key: 0 }, signer: validator.address, hash: decoded.hash.toHex() });
  });

  it("refuses before sending: unregistered validator, missing permit, rate limit, a moved payee, max weight limit, too few weights", async () => {
    const cases: Array<[string, Parameters<typeof testSubnet>[0], (h: readonly string[]) => Array<{ hotkey: string; uid: number; weight: number }>, (s: Awaited<ReturnType<typeof testSubnet>>) => void, unknown]> = [
      ["max weight", { maxWeightsLimit: 30000 }, (h) => [{ hotkey: h[1] as string, uid: 1, weight: 65535 }, { hotkey: h[2] as string, uid: 2, weight: 1000 }], () => undefined, WeightsInvalid],
      ["moved payee", {}, (h) => [{ hotkey: h[2] as string, uid: 1, weight: 65535 }], () => undefined, WeightsInvalid],
      ["no permit", {}, (h) => [{ hotkey: h[1] as string, uid: 1, weight: 65535 }], (s) => { (s.node.subnets.get(NETUID)?.neurons as Array<{ permit: boolean }>)[0] = { ...(s.node.subnets.get(NETUID)?.neurons[0] as object), permit: false } as never; }, WeightsInvalid],
      ["rate limit", { weightsSetRateLimit: 100 }, (h) => [{ hotkey: h[1] as string, uid: 1, weight: 65535 }], (s) => { (s.node.subnets.get(NETUID)?.lastUpdate as number[])[0] = s.node.head.number - 10; }, WeightsRateLimited],
      ["unregistered", {}, (h) => [{ hotkey: h[1] as string, uid: 1, weight: 65535 }], (s) => { s.node.subnets.get(NETUID)?.neurons.splice(0, 1, { hotkey: s.hotkeys[5] as string, stake: 1n, permit: true }); }, HotkeyNotRegistered],
    ];
    for (const [name, over, rows, mutate, kind] of cases) {
      const s = await testSubnet(over);
      mutate(s);
      api = await connectChain(s.node);
      const req = { netuid: NETUID, pair: s.validator, window: 0, rows: rows(s.hotkeys) };
      const err = await planWeights(api, req).then(() => undefined, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(kind);
      expect((err as { sent: boolean }).sent, name).toBe(false);
      expect(s.node.submitted, name).toHaveLength(0);
      await api.disconnect();
      api = undefined;
    }
    const s = await testSubnet({ minAllowedWeights: 3 });
    api = await connectChain(s.node);
    const short = { netuid: NETUID, pair: s.validator, window: 0, rows: [{ hotkey: s.hotkeys[1] as string, uid: 1, weight: 65535 }], pad: false };
    await expect(planWeights(api, short)).rejects.toMatchObject({ _tag: "WeightsInvalid", rule: "min-allowed-weights", sent: false });
  });
});

// Commit-reveal weights on the in-process node: the commit hash checked against bytes written out
// by hand, the salt journaled until the reveal, the reveal decoded and stored by the node.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ApiPromise } from "@polkadot/api";
import { u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsU8a, decodeAddress } from "@polkadot/util-crypto";
import { afterEach, describe, expect, it } from "vitest";
import { commitHash, commitPreimage } from "../../../src/actors/chain/commit.js";
import { connectChain } from "../../../src/actors/chain/connect.js";
import { readJournal } from "../../../src/actors/chain/journal.js";
import { planWeights, revealPending, submitPlan } from "../../../src/actors/chain/weights.js";
import { NETUID, testSubnet } from "./support/subnet.js";

let api: ApiPromise | undefined;
afterEach(async () => {
  await api?.disconnect();
  api = undefined;
});

/**
 * SCALE by hand, for the independent vector: AccountId32 is its 32 raw bytes, u16 and u64 are
 * little-endian, a Vec<u16> is a compact length (len << 2 in one byte, below 64 items) then its
 * items. blake2b-256 of the concatenation is subtensor's BlakeTwo256::hash_of of the tuple.
 */
const u16 = (n: number): Uint8Array => new Uint8Array([n & 0xff, n >> 8]);
const vecU16 = (xs: readonly number[]): Uint8Array => u8aConcat(new Uint8Array([xs.length << 2]), ...xs.map(u16));
const u64 = (n: number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};

describe("commit-reveal weights", () => {
  it("hashes exactly the SCALE bytes of (account, netuid, uids, values, salt, version_key)", async () => {
    const { node, validator } = await testSubnet();
    api = await connectChain(node);
    const c = { account: validator.address, netuid: 3, uids: [1, 4], values: [65535, 300], salt: [7, 65535, 0, 42], versionKey: 2 };
    const manual = u8aConcat(decodeAddress(validator.address), u16(3), vecU16(c.uids), vecU16(c.values), vecU16(c.salt), u64(2));
    // The tail written out byte by byte: netuid 3; uids [1, 4]; values [65535, 300]; salt [7, 65535, 0, 42]; version_key 2.
    expect(u8aToHex(manual.subarray(32))).toBe("0x0300" + "08" + "0100" + "0400" + "08" + "ffff" + "2c01" + "10" + "0700" + "ffff" + "0000" + "2a00" + "0200000000000000");
    expect(u8aToHex(commitPreimage(api, c))).toBe(u8aToHex(manual));
    expect(commitHash(api, c)).toBe(u8aToHex(blake2AsU8a(manual, 256)));
  });

  it("commits the hash with the salt journaled, refuses an early reveal without sending, then reveals in the window", async () => {
    const { node, validator, hotkeys } = await testSubnet({ commitRevealEnabled: true, tempo: 10, weightsVersionKey: 5 });
    api = await connectChain(node);
    const journal = join(mkdtempSync(join(tmpdir(), "swl-chain-")), "reveals.json");
    const salt = [1, 2, 3, 4, 5, 6, 7, 8];
    const req = { netuid: NETUID, pair: validator, window: 2, rows: [{ hotkey: hotkeys[3] as string, uid: 3, weight: 65535 }, { hotkey: hotkeys[1] as string, uid: 1, weight: 100 }], journal, salt };
    const plan = await planWeights(api, req);
    expect(plan.call).toBe("commit_weights");
    const s = await submitPlan(api, plan, req, { tries: 1 });
    const expected = u8aToHex(blake2AsU8a(u8aConcat(decodeAddress(validator.address), u16(NETUID), vecU16([1, 3]), vecU16([100, 65535]), vecU16(salt), u64(5)), 256));
    expect(node.submitted[0]).toMatchObject({ method: "commit_weights", signer: validator.address, args: { netuid: NETUID, commit_hash: expected }, outcome: { ok: true } });
    expect(s).toMatchObject({ call: "commit_weights", commitHash: expected, window: 2 });
    expect(readJournal(journal)).toEqual([expect.objectContaining({ commitHash: expected, salt, uids: [1, 3], values: [100, 65535], versionKey: 5, extrinsic: s.extrinsic, block: s.block })]);

    await expect(revealPending(api, NETUID, validator, journal, { tries: 1 })).rejects.toMatchObject({ _tag: "RevealRefused", reason: "too-early", sent: false });
    expect(node.submitted).toHaveLength(1);

    node.advance(10);
    const [r] = await revealPending(api, NETUID, validator, journal, { tries: 1 });
    expect(node.submitted[1]).toMatchObject({ method: "reveal_weights", args: { netuid: NETUID, uids: [1, 3], values: [100, 65535], salt, version_key: 5 }, outcome: { ok: true } });
    expect(r).toMatchObject({ call: "reveal_weights", commitHash: expected, extrinsic: node.submitted[1]?.hash });
    expect(node.subnets.get(NETUID)?.weights.get(0)).toEqual([[1, 100], [3, 65535]]);
    expect(readJournal(journal)).toEqual([]);
  });
});

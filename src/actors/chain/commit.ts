// The hash commit of commit-reveal weights, as subtensor checks it at reveal:
// BlakeTwo256::hash_of(&(who, netuid, uids, values, salt, version_key)), i.e. blake2b-256 of the
// SCALE encoding of the tuple (AccountId32, u16, Vec<u16>, Vec<u16>, Vec<u16>, u64).
// test/actors/chain/commit.test.ts recomputes it from hand-written SCALE bytes.
import type { ApiPromise } from "@polkadot/api";
import { u8aToHex } from "@polkadot/util";
import { blake2AsU8a } from "@polkadot/util-crypto";
import { randomBytes } from "node:crypto";

export interface CommitInput {
  /** The validator's hotkey (ss58). */
  readonly account: string;
  readonly netuid: number;
  readonly uids: readonly number[];
  readonly values: readonly number[];
  readonly salt: readonly number[];
  readonly versionKey: number;
}

/** The SCALE bytes the hash covers. */
export const commitPreimage = (api: Pick<ApiPromise, "registry">, c: CommitInput): Uint8Array =>
  api.registry.createType("(AccountId32, u16, Vec<u16>, Vec<u16>, Vec<u16>, u64)", [c.account, c.netuid, c.uids, c.values, c.salt, c.versionKey]).toU8a();

/** The H256 commit_weights carries, as 0x-hex. */
export const commitHash = (api: Pick<ApiPromise, "registry">, c: CommitInput): string => u8aToHex(blake2AsU8a(commitPreimage(api, c), 256));

/** A fresh salt of eight random u16s: secret until the reveal, so the commit hides the weights. */
export const freshSalt = (): number[] => {
  const b = randomBytes(16);
  return Array.from({ length: 8 }, (_, i) => b.readUInt16LE(2 * i));
};

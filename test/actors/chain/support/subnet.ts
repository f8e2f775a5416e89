// A small subnet for the chain tests: a validator at uid 0 with a permit and five miners, keyed
// by dev URIs, on an in-process node serving the real metadata.
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { MemorySubtensor } from "./provider.js";
import type { SubnetSpec } from "./runtime.js";

export const NETUID = 3;
export const URIS = ["//Validator", "//Miner1", "//Miner2", "//Miner3", "//Miner4", "//Miner5"] as const;

export interface TestSubnet {
  readonly node: MemorySubtensor;
  readonly validator: KeyringPair;
  readonly hotkeys: readonly string[];
}

/** A node with subnet NETUID (and overrides of its hyperparameters). */
export const testSubnet = async (over: Partial<SubnetSpec> = {}): Promise<TestSubnet> => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  const pairs = URIS.map((u) => keyring.addFromUri(u));
  const hotkeys = pairs.map((p) => p.address);
  const node = new MemorySubtensor([{ netuid: NETUID, neurons: hotkeys.map((h, i) => ({ hotkey: h, stake: BigInt(1000 - i), permit: i === 0 })), ...over }]);
  return { node, validator: pairs[0] as KeyringPair, hotkeys };
};

/** The subnet test/fixtures/golden-scored.jsonl is paid on. */
export const GOLDEN_NETUID = 9;

/**
 * The golden scored run's metagraph: //Owner at uid 0, //Miner0..8 at 1..9, and the validator at
 * 10 with a permit (the uids its WeightsProposed name).
 */
export const goldenSubnetSpec = async (over: Partial<SubnetSpec> = {}): Promise<SubnetSpec> => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  const uris = ["//Owner", ...Array.from({ length: 9 }, (_, i) => `//Miner${i}`), "//Validator"];
  return { netuid: GOLDEN_NETUID, neurons: uris.map((u, i) => ({ hotkey: keyring.addFromUri(u).address, stake: 10n ** 9n, permit: i === 10 })), ...over };
};

/** A node holding the golden run's subnet. */
export const goldenSubnet = async (over: Partial<SubnetSpec> = {}): Promise<MemorySubtensor> => new MemorySubtensor([await goldenSubnetSpec(over)]);

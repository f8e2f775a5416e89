// The validator's signing key for extrinsics: its sr25519 hotkey as a KeyringPair (the event log
// signs with a session key instead; the chain only knows the hotkey).
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";

/** A hotkey from a secret URI (`//Validator`, a mnemonic, a hex seed), ss58 format 42. */
export const hotkeyPair = async (uri: string): Promise<KeyringPair> => {
  await cryptoWaitReady();
  return new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(uri);
};

// A miner's Bittensor hotkey: an sr25519 keypair from a dev URI (`//Alice`), a mnemonic or a hex
// seed, optionally with a derivation path; its ss58 (format 42) address is the actor's name.
import { DEV_PHRASE } from "@polkadot/keyring";
import { u8aToHex } from "@polkadot/util";
import {
  decodeAddress,
  encodeAddress,
  keyExtractSuri,
  keyFromPath,
  mnemonicToMiniSecret,
  mnemonicValidate,
  sr25519PairFromSeed,
} from "@polkadot/util-crypto";
import { sign as srSign } from "@scure/sr25519";

/** Source of nonce randomness for sr25519 signing: returns `n` bytes. */
export type Rng = (n: number) => Uint8Array;

/** An sr25519 hotkey able to sign. The secret never leaves this object. */
export interface Hotkey {
  /** ss58 address, format 42: the actor name in the log. */
  readonly address: string;
  readonly publicKeyHex: string;
  /**
   * sr25519 signature (hex, 64 bytes) over the UTF-8 bytes of `message`. Schnorrkel mixes `rng`
   * into a witness with the secret nonce and the message, so a fixed `rng` still gives a distinct
   * nonce per message: tests pass one to make fixtures reproducible; omit it in production.
   */
  sign(message: string, rng?: Rng): string;
}

/** A typed failure for a URI or mnemonic that does not name a key. */
export class InvalidHotkey extends Error {
  readonly _tag = "InvalidHotkey";
}

const HEX_SEED = /^0x[0-9a-fA-F]{64}$/;

/**
 * Loads a hotkey from `//Name` (the Substrate dev phrase + a hard derivation), a BIP-39 mnemonic,
 * or a 0x hex seed, each optionally followed by `//hard` / `/soft` derivations and `///password`.
 * Gives the same address as `new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(uri)`,
 * but refuses short raw phrases that Keyring would silently pad into a seed.
 */
export const loadHotkey = (uriOrMnemonic: string): Hotkey => {
  const suri = uriOrMnemonic.trim().startsWith("//") ? `${DEV_PHRASE}${uriOrMnemonic.trim()}` : uriOrMnemonic.trim();
  let parts: ReturnType<typeof keyExtractSuri>;
  try {
    parts = keyExtractSuri(suri);
  } catch (err) {
    throw new InvalidHotkey(`not a key URI: ${err instanceof Error ? err.message : String(err)}`);
  }
  let seed: Uint8Array;
  if (HEX_SEED.test(parts.phrase)) seed = Buffer.from(parts.phrase.slice(2), "hex");
  else if (mnemonicValidate(parts.phrase)) seed = mnemonicToMiniSecret(parts.phrase, parts.password);
  else throw new InvalidHotkey("expected //Name, a BIP-39 mnemonic or a 0x-prefixed 32-byte hex seed (each optionally with //derivation)");
  const pair = keyFromPath(sr25519PairFromSeed(seed), parts.path, "sr25519");
  const secretKey = pair.secretKey;
  return {
    address: encodeAddress(pair.publicKey, 42),
    publicKeyHex: u8aToHex(pair.publicKey, -1, false),
    sign: (message, rng) => u8aToHex(srSign(secretKey, Buffer.from(message, "utf8"), rng), -1, false),
  };
};

/** A deterministic Rng for reproducible fixtures: repeats `byte`. Never use it for real keys. */
export const fixedRng = (byte = 7): Rng => (n) => new Uint8Array(n).fill(byte);

/** True for a hotkey's canonical ss58 address (format 42), the form actors are named by. */
export const isHotkeyAddress = (s: string): boolean => {
  try {
    return encodeAddress(decodeAddress(s, false, 42), 42) === s;
  } catch {
    return false;
  }
};

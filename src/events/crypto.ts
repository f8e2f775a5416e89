// The cryptographic primitives the pure event code needs, injected by the shell (node:crypto
// for sha256 and ed25519, @polkadot/util-crypto for sr25519) so src/events does no IO itself.

/** Hashing and signature checks; every method is deterministic. */
export interface CryptoSuite {
  /** Hex sha256 of the UTF-8 bytes of `text`. */
  sha256Hex(text: string): string;
  /**
   * Hex sha256 of `bytes` as they are. Optional: a verifier given stored bytes hashes them
   * directly when it has it (see canonical.ts), and re-serialises to text when it has not.
   */
  sha256HexBytes?(bytes: Uint8Array): string;
  /** ed25519 verify: `publicKeyHex` 32 bytes, `sigHex` 64 bytes, over the UTF-8 bytes of `message`. */
  ed25519Verify(publicKeyHex: string, message: string, sigHex: string): boolean;
  /** sr25519 verify by an ss58 address (format 42) over the UTF-8 bytes of `message`. */
  sr25519Verify(ss58: string, message: string, sigHex: string): boolean;
}

/** A session key able to sign: ed25519, certified once by the actor's hotkey. */
export interface SessionSigner {
  readonly publicKeyHex: string;
  sign(message: string): string;
}

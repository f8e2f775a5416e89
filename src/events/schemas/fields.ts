// Field schemas shared by event payloads: hex digests, keys, signatures, ss58 addresses, counters.
import { Schema } from "effect";

/** Lowercase hex sha256 or ed25519 public key: 32 bytes. */
export const Hex32 = Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/));
/** Lowercase hex signature: 64 bytes. */
export const Hex64 = Schema.String.check(Schema.isPattern(/^[0-9a-f]{128}$/));
/** An ss58 address in base58 (its checksum is checked where it is used, by the CryptoSuite). */
export const Ss58 = Schema.String.check(Schema.isPattern(/^[1-9A-HJ-NP-Za-km-z]{46,48}$/));
/** A non-negative safe integer. */
export const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));
/** A positive safe integer. */
export const Positive = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1));

// The ed25519 session key an actor signs its events with, through node:crypto (~35k signs/s,
// against ~840/s for sr25519). Certified once per run by the hotkey (see certificate.ts).
import { createPrivateKey, createPublicKey, randomBytes, sign } from "node:crypto";
import type { SessionSigner } from "../../events/crypto.js";

/** DER prefix of an ed25519 PKCS#8 private key; the 32-byte seed follows it. */
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");

/**
 * An ed25519 session signer. With a 32-byte `seed` the key is deterministic (fixtures, tests);
 * without one it is fresh randomness and lives only as long as the process.
 */
export const sessionKey = (seed?: Uint8Array): SessionSigner => {
  if (seed !== undefined && seed.length !== 32) throw new Error(`session key seed must be 32 bytes, got ${seed.length}`);
  const der = Buffer.concat([PKCS8_ED25519, seed ?? randomBytes(32)]);
  const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const publicKeyHex = spki.subarray(spki.length - 32).toString("hex");
  return {
    publicKeyHex,
    sign: (message) => sign(null, Buffer.from(message, "utf8"), privateKey).toString("hex"),
  };
};

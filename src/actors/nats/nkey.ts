// An actor's NATS identity is its ed25519 session key, the one its sr25519 hotkey certifies: an nkey
// user public key is that ed25519 key in the nkeys text form, and the server's login challenge is
// answered with the same signer that signs the actor's events. @nats-io/nkeys keeps its codec
// private, so the text form is built here (tested against the library's own keys).
import type { Authenticator } from "@nats-io/transport-node";
import type { SessionSigner } from "../../events/crypto.js";

/** The nkeys prefix byte of a user public key ('U' once base32-encoded): 20 << 3. */
const USER_PREFIX = 20 << 3;
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** CRC-16/XMODEM (poly 0x1021, init 0), the checksum nkeys append. */
const crc16 = (bytes: Uint8Array): number => {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = (crc & 0x8000) !== 0 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
};

/** RFC 4648 base32 without padding. */
const base32 = (bytes: Uint8Array): string => {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
};

/** The nkey user public key (`U...`, 56 chars) of a hex ed25519 public key. */
export const nkeyOfEd25519 = (publicKeyHex: string): string => {
  if (!/^[0-9a-f]{64}$/i.test(publicKeyHex)) throw new RangeError(`an ed25519 public key is 64 hex chars, got ${JSON.stringify(publicKeyHex.slice(0, 80))}`);
  const raw = new Uint8Array(35);
  raw[0] = USER_PREFIX;
  raw.set(Buffer.from(publicKeyHex, "hex"), 1);
  const crc = crc16(raw.subarray(0, 33));
  raw[33] = crc & 0xff;
  raw[34] = crc >>> 8;
  return base32(raw);
};

/**
 * Logs in as the nkey user of `signer`'s session key: the server's nonce is signed (ed25519 over
 * its UTF-8 bytes, as nats.js's own nkey authenticator does) and sent base64-encoded.
 */
export const sessionAuthenticator = (signer: SessionSigner): Authenticator => {
  const nkey = nkeyOfEd25519(signer.publicKeyHex);
  return (nonce?: string) => ({ nkey, sig: nonce === undefined ? "" : Buffer.from(signer.sign(nonce), "hex").toString("base64") });
};

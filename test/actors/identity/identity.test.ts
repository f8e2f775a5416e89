import { Keyring } from "@polkadot/keyring";
import { describe, expect, it } from "vitest";
import { certifySessionKey, fixedRng, InvalidHotkey, loadHotkey, nodeCrypto, sessionKey } from "../../../src/actors/identity/index.js";
import { certificateFault, certificateMessage } from "../../../src/events/certificate.js";

const RUN = "run-1";
const MNEMONIC = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
const seed = (b: number) => new Uint8Array(32).fill(b);

describe("loadHotkey", () => {
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });

  it.each(["//Alice", "//Bob//stash", MNEMONIC, `${MNEMONIC}//miner/1`, `0x${"ab".repeat(32)}`])(
    "gives the same ss58 address as @polkadot/keyring for %s",
    (uri) => {
      expect(loadHotkey(uri).address).toBe(keyring.addFromUri(uri).address);
    },
  );

  it("names //Alice by her well-known address", () => {
    expect(loadHotkey("//Alice").address).toBe("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
  });

  it("refuses a phrase that is neither a URI, a mnemonic nor a hex seed", () => {
    expect(() => loadHotkey("hello")).toThrow(InvalidHotkey);
    expect(() => loadHotkey("bottom drive obey lake curtain smoke basket hold race lonely fit fit")).toThrow(InvalidHotkey);
  });

  it("signs messages that verify under its address and not under another's", () => {
    const alice = loadHotkey("//Alice");
    const sig = alice.sign("hello");
    expect(nodeCrypto.sr25519Verify(alice.address, "hello", sig)).toBe(true);
    expect(nodeCrypto.sr25519Verify(alice.address, "hellO", sig)).toBe(false);
    expect(nodeCrypto.sr25519Verify(loadHotkey("//Bob").address, "hello", sig)).toBe(false);
  });

  it("signs reproducibly with a fixed rng and still per message", () => {
    const alice = loadHotkey("//Alice");
    expect(alice.sign("m", fixedRng())).toBe(alice.sign("m", fixedRng()));
    expect(alice.sign("m", fixedRng())).not.toBe(alice.sign("n", fixedRng()));
  });
});

describe("sessionKey", () => {
  it("is deterministic from a seed and signs what nodeCrypto verifies", () => {
    const a = sessionKey(seed(1));
    expect(sessionKey(seed(1)).publicKeyHex).toBe(a.publicKeyHex);
    expect(a.publicKeyHex).toMatch(/^[0-9a-f]{64}$/);
    const sig = a.sign("abc");
    expect(nodeCrypto.ed25519Verify(a.publicKeyHex, "abc", sig)).toBe(true);
    expect(nodeCrypto.ed25519Verify(a.publicKeyHex, "abd", sig)).toBe(false);
    expect(nodeCrypto.ed25519Verify(sessionKey(seed(2)).publicKeyHex, "abc", sig)).toBe(false);
  });

  it("matches the RFC 8032 test vector 1 public key", () => {
    const k = sessionKey(Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex"));
    expect(k.publicKeyHex).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    expect(k.sign("")).toBe(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
  });

  it("draws a fresh key without a seed, and refuses a seed of the wrong length", () => {
    expect(sessionKey().publicKeyHex).not.toBe(sessionKey().publicKeyHex);
    expect(() => sessionKey(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});

describe("nodeCrypto", () => {
  it("hashes UTF-8 text with sha256", () => {
    expect(nodeCrypto.sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("answers false, never throws, on malformed keys, signatures and addresses", () => {
    expect(nodeCrypto.ed25519Verify("zz", "m", "00".repeat(64))).toBe(false);
    expect(nodeCrypto.ed25519Verify("00".repeat(32), "m", "nothex")).toBe(false);
    expect(nodeCrypto.sr25519Verify("not-an-address", "m", "00".repeat(64))).toBe(false);
    const alice = loadHotkey("//Alice");
    // The same key as a hex string is not a canonical ss58 name.
    expect(nodeCrypto.sr25519Verify(`0x${alice.publicKeyHex}`, "m", alice.sign("m"))).toBe(false);
  });
});

describe("certifySessionKey", () => {
  const alice = loadHotkey("//Alice");
  const session = sessionKey(seed(3));
  const cert = certifySessionKey(alice, RUN, session);

  it("binds run, hotkey and session key, and holds for that actor", () => {
    expect(cert.hotkey).toBe(alice.address);
    expect(nodeCrypto.sr25519Verify(alice.address, certificateMessage(RUN, alice.address, session.publicKeyHex), cert.certificate)).toBe(true);
    expect(certificateFault(nodeCrypto, RUN, alice.address, cert)).toBeNull();
  });

  it("does not hold for another run, another actor or another session key", () => {
    expect(certificateFault(nodeCrypto, "run-2", alice.address, cert)).toMatch(/did not certify/);
    expect(certificateFault(nodeCrypto, RUN, loadHotkey("//Bob").address, cert)).toMatch(/actor is/);
    expect(certificateFault(nodeCrypto, RUN, alice.address, { ...cert, sessionKey: sessionKey(seed(4)).publicKeyHex })).toMatch(/did not certify/);
  });
});

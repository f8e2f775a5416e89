// Certifying a session key: the hotkey sr25519-signs the binding of (run, hotkey, session key),
// once per run (and again after a restart with a fresh session key).
import { certificateMessage, type SessionCertificate } from "../../events/certificate.js";
import type { SessionSigner } from "../../events/crypto.js";
import type { Hotkey, Rng } from "./hotkey.js";

/** The payload of the SessionKeyCertified event that opens (or re-keys) an actor's chain. */
export const certifySessionKey = (hotkey: Hotkey, run: string, session: SessionSigner, rng?: Rng): SessionCertificate => ({
  hotkey: hotkey.address,
  sessionKey: session.publicKeyHex,
  certificate: hotkey.sign(certificateMessage(run, hotkey.address, session.publicKeyHex), rng),
});

// The session-key certificate: the hotkey's sr25519 signature over a fixed text binding the run,
// the hotkey's ss58 address and the ed25519 session key. Pure: signing happens in the shell.
import type { CryptoSuite } from "./crypto.js";

/** The exact text a hotkey signs to certify a session key for one run. */
export const certificateMessage = (run: string, hotkey: string, sessionKeyHex: string): string =>
  `swarmline/session-key/v1\nrun=${run}\nhotkey=${hotkey}\nsession=${sessionKeyHex}`;

/** What a SessionKeyCertified event carries. */
export interface SessionCertificate {
  /** ss58 (format 42) address of the hotkey; must equal the event's actor. */
  readonly hotkey: string;
  /** Hex ed25519 public key (32 bytes) that signs the actor's events from here on. */
  readonly sessionKey: string;
  /** Hex sr25519 signature (64 bytes) by `hotkey` over `certificateMessage(run, hotkey, sessionKey)`. */
  readonly certificate: string;
}

/** Why a certificate does not hold, or null when it does. */
export const certificateFault = (crypto: CryptoSuite, run: string, actor: string, c: SessionCertificate): string | null => {
  if (c.hotkey !== actor) return `certificate names hotkey ${c.hotkey} but the actor is ${actor}`;
  if (!crypto.sr25519Verify(c.hotkey, certificateMessage(run, c.hotkey, c.sessionKey), c.certificate))
    return `hotkey ${c.hotkey} did not certify session key ${c.sessionKey} for run ${run}`;
  return null;
};

// Joining a secured run: certify a fresh session key under the hotkey, ask the gatekeeper as the
// unauthenticated joiner, then log in as the nkey user the session key became.
import { randomBytes } from "node:crypto";
import { Schema } from "effect";
import type { JoinRole } from "../../machines/gatekeeper/index.js";
import { subjects } from "../../events/subjects.js";
import { certifySessionKey, type Hotkey, sessionKey } from "../identity/index.js";
import { connectJoiner, connectNats, type NatsConnection, type NatsLogin } from "../nats/connection.js";
import { sessionAuthenticator } from "../nats/nkey.js";
import { inboxPrefix } from "../nats/permissions.js";
import type { JoinReply } from "./host.js";

/** The gatekeeper refused to admit this hotkey (not registered, bad certificate, role not allowed), or never answered. */
export class JoinRefused extends Schema.TaggedError<JoinRefused>()("JoinRefused", {
  reason: Schema.String,
  message: Schema.String,
}) {}

export interface Membership {
  /** The session seed the actor's writer must sign with (its NATS identity is this key). */
  readonly sessionSeed: Uint8Array;
  readonly login: NatsLogin;
}

/** Asks the run's gatekeeper to admit `hotkey`'s new session key as `role`. */
export const joinSecuredRun = async (url: string, run: string, hotkey: Hotkey, role: JoinRole, seed?: Uint8Array): Promise<Membership> => {
  const sessionSeed = seed ?? new Uint8Array(randomBytes(32));
  const signer = sessionKey(sessionSeed);
  const certificate = certifySessionKey(hotkey, run, signer);
  const nc = await connectJoiner(url);
  try {
    const m = await nc.request(subjects.join(run), JSON.stringify({ certificate, role }), { timeout: 10_000 }).catch((e: unknown) => {
      throw new JoinRefused({ reason: "NoGatekeeper", message: `no gatekeeper answered on ${url} for run ${run} (${e instanceof Error ? e.message : String(e)}): is the run secured and its orchestrator up?` });
    });
    const reply = m.json<JoinReply>();
    if (!reply.ok) throw new JoinRefused({ reason: reply.reason, message: `the gatekeeper refused ${hotkey.address}: ${reply.detail}` });
  } finally {
    await nc.close();
  }
  return { sessionSeed, login: { authenticator: sessionAuthenticator(signer), inboxPrefix: inboxPrefix(hotkey.address) } };
};

/**
 * Logs in with an admitted membership. The server reloads its authorization a moment after the
 * gatekeeper answers, so a refused login is retried for up to `waitMs`.
 */
export const connectAsMember = async (url: string, name: string, m: Membership, waitMs = 10_000): Promise<NatsConnection> => {
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      return await connectNats(url, name, m.login);
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
};

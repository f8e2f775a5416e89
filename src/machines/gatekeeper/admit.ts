// The gatekeeper's decision: whether a join request admits its session key to the run's bus, and
// as what. Pure: the hotkey's sr25519 certificate is checked through the injected CryptoSuite and
// registration against a snapshot (the subnet's metagraph, or a local allow-list) passed as data.
import type { SessionCertificate } from "../../events/certificate.js";
import { certificateFault } from "../../events/certificate.js";
import type { CryptoSuite } from "../../events/crypto.js";

/**
 * An orchestrator is the run's authority: it creates the run's streams (admin on the bus). An
 * auditor only reads the run's facts (and asks producers for facts the bus lost): facts are public,
 * so any hotkey with a valid certificate for the run is admitted as one, registered or not.
 */
export type JoinRole = "miner" | "validator" | "orchestrator" | "auditor";

/** What a joiner sends: its certificate for this run and the role it asks for. */
export interface JoinRequest {
  readonly certificate: SessionCertificate;
  readonly role: JoinRole;
}

/** Who may join: registered hotkeys and the roles each may take (a validator permit allows both). */
export type Registry = ReadonlyMap<string, ReadonlySet<JoinRole>>;

export type JoinRefusal =
  | { readonly _tag: "MalformedRequest"; readonly detail: string }
  | { readonly _tag: "BadCertificate"; readonly detail: string }
  | { readonly _tag: "NotRegistered"; readonly detail: string }
  | { readonly _tag: "RoleNotAllowed"; readonly detail: string };

export type Admission =
  | { readonly _tag: "Admitted"; readonly hotkey: string; readonly sessionKey: string; readonly role: JoinRole }
  | { readonly _tag: "Refused"; readonly refusal: JoinRefusal };

const refuse = (refusal: JoinRefusal): Admission => ({ _tag: "Refused", refusal });
const isHex = (s: unknown, bytes: number): s is string => typeof s === "string" && s.length === bytes * 2 && /^[0-9a-f]+$/i.test(s);

/** Reads a join request from untrusted JSON; a string says what is wrong. */
export const readJoinRequest = (u: unknown): JoinRequest | string => {
  if (typeof u !== "object" || u === null) return "a join request is a JSON object";
  const r = u as { certificate?: Partial<SessionCertificate>; role?: unknown };
  const c = r.certificate;
  if (typeof c !== "object" || c === null) return "certificate is missing";
  if (typeof c.hotkey !== "string" || c.hotkey.length > 64) return "certificate.hotkey must be an ss58 address";
  if (!isHex(c.sessionKey, 32)) return "certificate.sessionKey must be 32 bytes of hex";
  if (!isHex(c.certificate, 64)) return "certificate.certificate must be a 64-byte hex signature";
  if (r.role !== "miner" && r.role !== "validator" && r.role !== "orchestrator" && r.role !== "auditor")
    return `role must be "miner", "validator", "orchestrator" or "auditor", got ${JSON.stringify(r.role)}`;
  return { certificate: { hotkey: c.hotkey, sessionKey: c.sessionKey, certificate: c.certificate }, role: r.role };
};

/** Admits a request whose certificate holds for `run` and whose hotkey is registered for the role (any hotkey as an auditor). */
export const admit = (crypto: CryptoSuite, run: string, registry: Registry, raw: unknown): Admission => {
  const req = readJoinRequest(raw);
  if (typeof req === "string") return refuse({ _tag: "MalformedRequest", detail: req });
  const { hotkey, sessionKey } = req.certificate;
  const fault = certificateFault(crypto, run, hotkey, req.certificate);
  if (fault !== null) return refuse({ _tag: "BadCertificate", detail: fault });
  if (req.role === "auditor") return { _tag: "Admitted", hotkey, sessionKey, role: req.role };
  const roles = registry.get(hotkey);
  if (roles === undefined) return refuse({ _tag: "NotRegistered", detail: `hotkey ${hotkey} is not registered on this run's subnet (or its allow-list)` });
  if (!roles.has(req.role)) return refuse({ _tag: "RoleNotAllowed", detail: `hotkey ${hotkey} may not join as ${req.role} (allowed: ${[...roles].sort().join(", ")})` });
  return { _tag: "Admitted", hotkey, sessionKey, role: req.role };
};

/**
 * Reads an allow-list file: one hotkey address per line, optionally followed by `validator`
 * (which may also mine) or `orchestrator`; `#` starts a comment. A string names the first bad line.
 */
export const parseAllowList = (text: string): Registry | string => {
  const out = new Map<string, Set<JoinRole>>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").replace(/#.*/, "").trim();
    if (line === "") continue;
    const [hotkey, role, extra] = line.split(/\s+/);
    if (hotkey === undefined || !/^[1-9A-HJ-NP-Za-km-z]{46,48}$/.test(hotkey) || extra !== undefined || (role !== undefined && role !== "validator" && role !== "orchestrator"))
      return `line ${i + 1}: expected "ADDRESS", "ADDRESS validator" or "ADDRESS orchestrator", got ${JSON.stringify(line)}`;
    out.set(hotkey, new Set<JoinRole>(role === "validator" ? ["miner", "validator"] : role === "orchestrator" ? ["orchestrator"] : ["miner"]));
  }
  return out;
};

// An anchored head: the run's log as its orchestrator saw it at a point (every actor's chain head:
// seq and hash), signed by the orchestrator's hotkey and kept outside the log (a head file, one
// anchor per line). Hash chains catch an event changed or removed in the middle of a log, but not
// events cut from its end: the shortened log is itself a valid log. Checked against an anchor, a
// log missing the tail of any anchored chain is caught (`swarmline log verify --head FILE`).
import { Schema } from "effect";
import type { CryptoSuite } from "./crypto.js";
import type { Envelope } from "./envelope.js";

export interface ActorHead {
  readonly actor: string;
  readonly seq: number;
  readonly hash: string;
}

const AnchorSchema = Schema.Struct({
  swarmline: Schema.Literal("head"),
  v: Schema.Literal(1),
  run: Schema.String,
  /** The orchestrator's hotkey (ss58): the signer. */
  orchestrator: Schema.String,
  /** Why it was taken: a scoring window closed, or the run completed. */
  reason: Schema.Literals(["window", "completed"]),
  /** Microbatches completed when it was taken (metadata). */
  completed: Schema.Int,
  /** Events under the anchor: the sum of the chain heads' seqs. */
  events: Schema.Int,
  heads: Schema.Array(Schema.Struct({ actor: Schema.String, seq: Schema.Int, hash: Schema.String })),
  /** sha256 of the heads, one `actor:seq:hash` line each, in actor order. */
  digest: Schema.String,
  /** sr25519 by the orchestrator's hotkey over `anchorMessage`. */
  signature: Schema.String,
});
export type LogAnchor = typeof AnchorSchema.Type;

/** The heads in their canonical order (by actor), without actors that have no event yet. */
export const canonicalHeads = (heads: Iterable<ActorHead>): ActorHead[] =>
  [...heads].filter((h) => h.seq > 0).map(({ actor, seq, hash }) => ({ actor, seq, hash })).sort((a, b) => (a.actor < b.actor ? -1 : a.actor > b.actor ? 1 : 0));

export const headsDigest = (crypto: CryptoSuite, heads: readonly ActorHead[]): string => crypto.sha256Hex(heads.map((h) => `${h.actor}:${h.seq}:${h.hash}`).join("\n"));

/** What the orchestrator's hotkey signs: the run, the reason, the event count and the heads' digest. */
export const anchorMessage = (a: Pick<LogAnchor, "run" | "reason" | "completed" | "events" | "digest">): string =>
  `swarmline-head:v1:${a.run}:${a.reason}:${a.completed}:${a.events}:${a.digest}`;

/** An anchor of `heads`, signed with `sign` (the orchestrator hotkey's sr25519). */
export const makeAnchor = (
  crypto: CryptoSuite,
  o: { readonly run: string; readonly orchestrator: string; readonly reason: LogAnchor["reason"]; readonly completed: number; readonly heads: Iterable<ActorHead> },
  sign: (message: string) => string,
): LogAnchor => {
  const heads = canonicalHeads(o.heads);
  const unsigned = { run: o.run, reason: o.reason, completed: o.completed, events: heads.reduce((n, h) => n + h.seq, 0), digest: headsDigest(crypto, heads) };
  return { swarmline: "head", v: 1, orchestrator: o.orchestrator, heads, ...unsigned, signature: sign(anchorMessage(unsigned)) };
};

/** Parses a head file (one anchor per line); a line that is not an anchor is named. */
export const parseHeadFile = (text: string): { readonly anchors: LogAnchor[] } | { readonly error: string } => {
  const anchors: LogAnchor[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "") continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return { error: `line ${i + 1} is not JSON` };
    }
    const r = Schema.decodeUnknownResult(AnchorSchema)(raw);
    if (r._tag === "Failure") return { error: `line ${i + 1} is not a head anchor: ${String(r.failure).split("\n")[0]}` };
    anchors.push(r.success);
  }
  if (anchors.length === 0) return { error: "it holds no anchor" };
  return { anchors };
};

/** Why a log does not reach what an anchor holds, or why an anchor cannot be trusted. */
export interface AnchorProblem {
  readonly anchor: number;
  readonly reason: "BadAnchor" | "WrongRun" | "WrongSigner" | "Truncated" | "Forked";
  readonly detail: string;
}

/**
 * Checks a log's events against every anchor: signed by the run's orchestrator (`orchestrator`,
 * from the log's SwarmRunStarted), for this run, and every anchored chain present in the log up to
 * its anchored seq with the anchored hash. Returns the problems (none: the log holds all of it).
 */
export const checkAnchors = (crypto: CryptoSuite, run: string, orchestrator: string | undefined, events: Iterable<Envelope>, anchors: readonly LogAnchor[]): AnchorProblem[] => {
  const hashes = new Map<string, Map<number, string>>();
  for (const e of events) {
    let m = hashes.get(e.actor);
    if (m === undefined) hashes.set(e.actor, (m = new Map()));
    m.set(e.seq, e.hash);
  }
  const problems: AnchorProblem[] = [];
  anchors.forEach((a, i) => {
    const n = i + 1;
    const heads = canonicalHeads(a.heads);
    if (headsDigest(crypto, heads) !== a.digest || heads.reduce((k, h) => k + h.seq, 0) !== a.events || heads.length !== a.heads.length)
      return problems.push({ anchor: n, reason: "BadAnchor", detail: "its digest or event count does not match the heads it lists" });
    if (!crypto.sr25519Verify(a.orchestrator, anchorMessage(a), a.signature)) return problems.push({ anchor: n, reason: "BadAnchor", detail: `its signature is not ${a.orchestrator}'s` });
    if (a.run !== run) return problems.push({ anchor: n, reason: "WrongRun", detail: `it anchors run ${a.run}, the log is run ${run}` });
    if (orchestrator !== undefined && a.orchestrator !== orchestrator)
      return problems.push({ anchor: n, reason: "WrongSigner", detail: `signed by ${a.orchestrator}, but the run's orchestrator is ${orchestrator}` });
    for (const h of heads) {
      const got = hashes.get(h.actor);
      const last = got === undefined ? 0 : Math.max(...got.keys());
      const hash = got?.get(h.seq);
      if (hash === undefined)
        return problems.push({ anchor: n, reason: "Truncated", detail: `${h.actor}'s chain ends at seq ${last} in the log, but the anchor (${a.reason}, ${a.completed} microbatches) holds seq ${h.seq}: events were cut from the log` });
      if (hash !== h.hash) return problems.push({ anchor: n, reason: "Forked", detail: `${h.actor}'s event ${h.seq} has hash ${hash.slice(0, 12)}… in the log, ${h.hash.slice(0, 12)}… in the anchor` });
    }
    return undefined;
  });
  return problems;
};

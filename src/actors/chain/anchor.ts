// The chain half of anchored heads (src/events/head.ts): the orchestrator commits the sha256 of an
// anchor's signed message through subtensor's Commitments pallet, where anyone can read it back.
// A head file whose last anchor is not what the chain holds was cut, replaced, or never committed.
import type { ApiPromise } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import { anchorMessage, type LogAnchor } from "../../events/head.js";
import { nodeCrypto } from "../identity/node-crypto.js";
import { type Included, signAndInclude } from "./dispatch.js";
import { ChainUnavailable, CommitmentRefused } from "./errors.js";

/**
 * The 32 bytes committed for an anchor, as 0x hex: sha256 of `anchorMessage`, the message its
 * orchestrator signs, so it binds the run, the reason, the microbatches completed, the event count
 * and the heads' digest. The Commitments pallet's `Sha256` field holds exactly 32 bytes.
 */
export const anchorCommitment = (anchor: LogAnchor): string => `0x${nodeCrypto.sha256Hex(anchorMessage(anchor))}`;

/** An anchor's commitment where the chain took it. */
export interface AnchorCommitted extends Included {
  /** The committed value: `anchorCommitment(anchor)`. */
  readonly value: string;
}

/** What the chain holds for a hotkey on a subnet: a Sha256 commitment and the block it was set in. */
export interface ChainCommitment {
  readonly value: string;
  readonly block: number;
}

type Codec = { toJSON(): unknown; toString(): string };

/** A Commitments item or constant of the node's runtime; a runtime without it is ChainUnavailable. */
const commitments = <T>(api: ApiPromise, kind: "query" | "consts" | "tx", name: string): T => {
  const x = (api[kind]["commitments"] as Record<string, unknown> | undefined)?.[name];
  if (x === undefined) throw new ChainUnavailable({ message: `the node's runtime has no Commitments.${name} (spec ${api.runtimeVersion.specVersion.toString()}): anchors go through subtensor's Commitments pallet as of spec 219` });
  return x as T;
};

const read = (api: ApiPromise, name: string, netuid: number, hotkey: string): Promise<Codec> =>
  commitments<(netuid: number, hotkey: string) => Promise<Codec>>(api, "query", name)(netuid, hotkey);

/** The Sha256 field of a Registration as JSON (`{ info: { fields: [{ sha256: "0x…" }] } }`), if it has one. */
const sha256Field = (registration: unknown): string | undefined => {
  const fields = (registration as { info?: { fields?: unknown } } | null)?.info?.fields;
  if (!Array.isArray(fields)) return undefined;
  for (const f of fields) {
    if (f === null || typeof f !== "object") continue;
    const v = Object.entries(f).find(([k]) => k.toLowerCase() === "sha256")?.[1];
    if (typeof v === "string") return v.toLowerCase();
  }
  return undefined;
};

/**
 * Reads `Commitments.CommitmentOf(netuid, hotkey)`: the Sha256 value the hotkey committed on the
 * subnet and the block it was set in; undefined when it committed nothing, or no Sha256 field.
 */
export const readAnchorCommitment = async (api: ApiPromise, netuid: number, hotkey: string): Promise<ChainCommitment | undefined> => {
  const r = (await read(api, "commitmentOf", netuid, hotkey)).toJSON();
  const value = sha256Field(r);
  return value === undefined ? undefined : { value, block: Number((r as { block: unknown }).block) };
};

/**
 * Commits `anchor` on subnet `netuid` with `set_commitment(netuid, { fields: [{ Sha256 }] })`,
 * signed by `pair`, and resolves where it landed. Refused before sending (CommitmentRefused, sent
 * false): a signer that is not the anchor's orchestrator (a verifier reads the orchestrator's
 * commitment), or a commit the pallet's rate limit would refuse in the next block. The chain itself
 * refuses a hotkey not registered on the subnet (HotkeyNotRegistered, sent true). A commitment
 * replaces the hotkey's previous one on the subnet (the pallet keeps one, of one field).
 */
export const commitAnchor = async (api: ApiPromise, pair: KeyringPair, netuid: number, anchor: LogAnchor): Promise<AnchorCommitted> => {
  if (pair.address !== anchor.orchestrator)
    throw new CommitmentRefused({ reason: "wrong-signer", netuid, sent: false, message: `the anchor is ${anchor.orchestrator}'s, the signing hotkey is ${pair.address}: a verifier reads the orchestrator's commitment` });
  const limit = Number(commitments<Codec>(api, "consts", "rateLimit").toString());
  const last = (await read(api, "lastCommitment", netuid, pair.address)).toJSON();
  if (typeof last === "number") {
    const head = (await api.rpc.chain.getHeader()).number.toNumber();
    if (head + 1 < last + limit)
      throw new CommitmentRefused({ reason: "rate-limited", netuid, sent: false, message: `${pair.address} committed on subnet ${netuid} in block ${last}; the Commitments pallet takes one commitment per ${limit} blocks: the next from block ${last + limit} (the chain is at ${head})` });
  }
  const value = anchorCommitment(anchor);
  const setCommitment = commitments<(netuid: number, info: unknown) => Parameters<typeof signAndInclude>[1]>(api, "tx", "setCommitment");
  const included = await signAndInclude(api, setCommitment(netuid, { fields: [{ Sha256: value }] }), pair, { netuid, hotkey: pair.address });
  return { ...included, value };
};

/** Whether the chain holds a head file's last anchor, and if not, why. */
export type ChainAnchorCheck =
  | { readonly ok: true; readonly orchestrator: string; readonly netuid: number; readonly value: string; readonly block: number }
  | { readonly ok: false; readonly reason: "NotOnChain" | "EarlierAnchor" | "Mismatch"; readonly orchestrator: string; readonly netuid: number; readonly detail: string };

/**
 * Checks that the orchestrator named in the last anchor of `anchors` (a head file, in order) holds
 * that anchor's commitment on subnet `netuid`: then the file was not cut before its last anchor,
 * and that anchor existed when the block was made. The anchors' own signatures are checked by
 * `checkAnchors`; this adds only what the chain witnesses.
 */
export const checkAnchorOnChain = async (api: ApiPromise, netuid: number, anchors: readonly LogAnchor[]): Promise<ChainAnchorCheck> => {
  const a = anchors[anchors.length - 1];
  if (a === undefined) return { ok: false, reason: "NotOnChain", orchestrator: "", netuid, detail: "the head file holds no anchor" };
  const who = a.orchestrator;
  const what = (x: LogAnchor): string => `${x.reason}, ${x.completed} microbatches, ${x.events} events`;
  const held = await readAnchorCommitment(api, netuid, who);
  if (held === undefined)
    return { ok: false, reason: "NotOnChain", orchestrator: who, netuid, detail: `${who} holds no Sha256 commitment on subnet ${netuid}: the head file's last anchor (${what(a)}) was not committed on this chain` };
  const expected = anchorCommitment(a);
  if (held.value === expected) return { ok: true, orchestrator: who, netuid, value: held.value, block: held.block };
  const k = anchors.findIndex((x) => anchorCommitment(x) === held.value);
  if (k >= 0)
    return {
      ok: false, reason: "EarlierAnchor", orchestrator: who, netuid,
      detail: `${who}'s commitment on subnet ${netuid} (block ${held.block}) is anchor ${k + 1} of ${anchors.length} (${what(anchors[k] as LogAnchor)}), not the last (${what(a)}): the later anchors were not committed (the pallet refuses a commit within its rate limit), or were added to the file`,
    };
  return {
    ok: false, reason: "Mismatch", orchestrator: who, netuid,
    detail: `${who}'s commitment on subnet ${netuid} (block ${held.block}) is ${held.value}, but the head file's last anchor (${what(a)}) commits to ${expected} and no anchor of the file matches: the file was cut or altered, or the hotkey committed something else since`,
  };
};

/** A run's anchors committed on chain as the orchestrator makes them (see startChainAnchors). */
export interface ChainAnchors {
  /** Give it each new anchor (HeadAnchorOptions.onAnchor): committed now, or as soon as the rate limit allows. */
  onAnchor(a: LogAnchor): Promise<void>;
  /**
   * Commits the newest anchor if it is not on chain yet, waiting out the pallet's rate limit (polling
   * every `pollMs`) for at most `maxWaitMs`; resolves with what was committed last, or undefined.
   */
  final(o?: { readonly maxWaitMs?: number; readonly pollMs?: number; readonly onWait?: (message: string) => void }): Promise<AnchorCommitted | undefined>;
}

/**
 * Commits anchors on subnet `netuid` with `pair` (the orchestrator's hotkey). The pallet takes one
 * commitment per rate limit (100 blocks on subtensor, ~20 min), so an anchor made too soon after
 * the last commit waits, replaced by any newer one; `final()` waits for the limit to pass so the
 * run's last anchor is the one on chain. Other failures go to `onError`; anchoring goes on.
 */
export const startChainAnchors = (api: ApiPromise, pair: KeyringPair, netuid: number, onError: (e: unknown) => void): ChainAnchors => {
  let pending: LogAnchor | undefined;
  let last: AnchorCommitted | undefined;
  let queue: Promise<void> = Promise.resolve();
  /** true when nothing is left to commit (done, or failed for good). */
  const attempt = async (): Promise<boolean> => {
    const a = pending;
    if (a === undefined) return true;
    try {
      last = await commitAnchor(api, pair, netuid, a);
      if (pending === a) pending = undefined;
      return pending === undefined;
    } catch (e) {
      if (e instanceof CommitmentRefused && e.reason === "rate-limited" && !e.sent) return false;
      if (pending === a) pending = undefined;
      onError(e);
      return true;
    }
  };
  const enqueue = (): Promise<boolean> => {
    const r = queue.then(attempt);
    queue = r.then(() => undefined, () => undefined);
    return r;
  };
  return {
    onAnchor: async (a) => {
      pending = a;
      await enqueue();
    },
    final: async (o = {}) => {
      const deadline = performance.now() + (o.maxWaitMs ?? 30 * 60_000);
      let told = false;
      while (!(await enqueue())) {
        if (performance.now() >= deadline) {
          onError(new CommitmentRefused({ reason: "rate-limited", netuid, sent: false, message: `the run's last anchor is not on chain: the Commitments rate limit did not pass within ${Math.round((o.maxWaitMs ?? 30 * 60_000) / 1000)} s (log verify --chain will name an earlier anchor)` }));
          return last;
        }
        if (!told) {
          told = true;
          o.onWait?.(`waiting for the Commitments rate limit to pass to commit the run's last anchor on subnet ${netuid}`);
        }
        await new Promise((r) => setTimeout(r, o.pollMs ?? 6_000));
      }
      return last;
    },
  };
};

// Paying a window on chain: plan (read the metagraph, build and check the vector, pick set_weights
// or the hash commit by the subnet's commit-reveal setting), then either show the signed extrinsic
// (dry run) or send it and read back that the chain holds it. Reveals of earlier commits come from
// the journal. Every refusal is a typed error; one found in planning means nothing was sent.
import type { ApiPromise } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import { commitHash, freshSalt } from "./commit.js";
import { confirmCommit, confirmWeights, type PollOptions, readCommit } from "./confirm.js";
import { type Included, signAndInclude } from "./dispatch.js";
import { HotkeyNotRegistered, RevealRefused } from "./errors.js";
import { dropPending, type PendingReveal, putPending, readJournal } from "./journal.js";
import { type Metagraph, readMetagraph, headNumber } from "./metagraph.js";
import { checkValidator, type PayoutRow, weightVector, type WeightVector } from "./vector.js";

export type WeightsCall = "set_weights" | "commit_weights" | "reveal_weights";

export interface PayoutRequest {
  readonly netuid: number;
  /** The validator's hotkey: it signs, and it must hold a permit on the subnet. */
  readonly pair: KeyringPair;
  /** The scoring window paid (from WeightsProposed). */
  readonly window: number;
  readonly rows: readonly PayoutRow[];
  /** Pad to min_allowed_weights with zeros (default true; see vector.ts). */
  readonly pad?: boolean;
  /** Where commit salts wait for their reveal; required on a commit-reveal subnet. */
  readonly journal?: string;
  /** The salt of a commit (default fresh randomness; tests fix it). */
  readonly salt?: readonly number[];
}

/** A checked, not yet signed payout. */
export interface WeightsPlan {
  readonly call: "set_weights" | "commit_weights";
  readonly netuid: number;
  readonly window: number;
  readonly metagraph: Metagraph;
  readonly uid: number;
  readonly vector: WeightVector;
  readonly versionKey: number;
  readonly salt: readonly number[] | null;
  readonly commitHash: string | null;
  readonly tx: SubmittableExtrinsic<"promise">;
}

/** What the chain took: the facts WeightsSubmitted records. */
export interface Submission extends Included {
  readonly call: WeightsCall;
  readonly netuid: number;
  readonly window: number;
  readonly uids: readonly number[];
  readonly values: readonly number[];
  readonly versionKey: number;
  readonly commitHash: string | null;
}

type Tx = Record<string, (...args: unknown[]) => SubmittableExtrinsic<"promise">>;
const subtensorTx = (api: ApiPromise): Tx => api.tx["subtensorModule"] as unknown as Tx;

/** Reads the chain and builds the extrinsic the payout needs; throws a typed error (nothing sent) when the chain would refuse it. */
export const planWeights = async (api: ApiPromise, r: PayoutRequest): Promise<WeightsPlan> => {
  const m = await readMetagraph(api, r.netuid);
  const uid = checkValidator(r.pair.address, m);
  const vector = weightVector(r.rows, m, r.pad === undefined ? {} : { pad: r.pad });
  const versionKey = m.hyperparameters.weightsVersionKey;
  const base = { netuid: r.netuid, window: r.window, metagraph: m, uid, vector, versionKey };
  if (!m.hyperparameters.commitRevealEnabled)
    return { ...base, call: "set_weights", salt: null, commitHash: null, tx: subtensorTx(api)["setWeights"]?.(r.netuid, vector.uids, vector.values, versionKey) as SubmittableExtrinsic<"promise"> };
  const salt = r.salt ?? freshSalt();
  const hash = commitHash(api, { account: r.pair.address, netuid: r.netuid, uids: vector.uids, values: vector.values, salt, versionKey });
  return { ...base, call: "commit_weights", salt, commitHash: hash, tx: subtensorTx(api)["commitWeights"]?.(r.netuid, hash) as SubmittableExtrinsic<"promise"> };
};

/** The dry run: the extrinsic signed as it would be sent (current nonce and era), decoded and as hex. Nothing is sent. */
export const signedPreview = async (plan: WeightsPlan, pair: KeyringPair): Promise<ExtrinsicPreview> => {
  const signed = await plan.tx.signAsync(pair, { nonce: -1 });
  const m = signed.method;
  const args = Object.fromEntries(m.meta.fields.map((f, i) => [f.name.isSome ? f.name.unwrap().toString() : String(i), m.args[i]?.toJSON()]));
  return { section: m.section, method: m.meta.name.toString(), args, signer: signed.signer.toString(), nonce: signed.nonce.toNumber(), hex: signed.toHex(), hash: signed.hash.toHex() };
};

/** A signed extrinsic, decoded: the call by the metadata's names, its arguments, who signed, and its bytes. */
export interface ExtrinsicPreview {
  readonly section: string;
  readonly method: string;
  readonly args: Record<string, unknown>;
  readonly signer: string;
  readonly nonce: number;
  readonly hex: string;
  readonly hash: string;
}

/** Sends a plan and confirms the chain holds it; a commit's salt is journaled before it is sent. */
export const submitPlan = async (api: ApiPromise, plan: WeightsPlan, r: PayoutRequest, poll: PollOptions = {}): Promise<Submission> => {
  const c = { netuid: plan.netuid, hotkey: r.pair.address };
  const out = (i: Included, call: WeightsCall): Submission => ({ ...i, call, netuid: plan.netuid, window: plan.window, uids: plan.vector.uids, values: plan.vector.values, versionKey: plan.versionKey, commitHash: plan.commitHash });
  if (plan.call === "set_weights") {
    const i = await signAndInclude(api, plan.tx, r.pair, c);
    await confirmWeights(api, plan.netuid, plan.uid, plan.vector, poll);
    return out(i, "set_weights");
  }
  if (r.journal === undefined) throw new RevealRefused({ reason: "no-journal-entry", sent: false, message: `subnet ${plan.netuid} has commit-reveal on: name a journal file for the salt (it is needed to reveal)` });
  const pending: PendingReveal = { netuid: plan.netuid, hotkey: r.pair.address, window: plan.window, uids: plan.vector.uids, values: plan.vector.values, salt: plan.salt ?? [], versionKey: plan.versionKey, commitHash: plan.commitHash as string };
  putPending(r.journal, pending);
  let i: Included;
  try {
    i = await signAndInclude(api, plan.tx, r.pair, c);
  } catch (e) {
    dropPending(r.journal, pending.commitHash);
    throw e;
  }
  putPending(r.journal, { ...pending, extrinsic: i.extrinsic, block: i.block });
  await confirmCommit(api, plan.netuid, r.pair.address, pending.commitHash, poll);
  return out(i, "commit_weights");
};

/**
 * Reveals every journaled commit of this hotkey on `netuid` whose reveal window is open, oldest
 * first; a commit not yet revealable is RevealRefused("too-early", nothing sent) naming the block.
 */
export const revealPending = async (api: ApiPromise, netuid: number, pair: KeyringPair, journal: string, poll: PollOptions = {}): Promise<Submission[]> => {
  const mine = readJournal(journal).filter((e) => e.netuid === netuid && e.hotkey === pair.address);
  if (mine.length === 0) throw new RevealRefused({ reason: "no-journal-entry", sent: false, message: `journal ${journal} holds no commit of ${pair.address} on subnet ${netuid}` });
  const m = await readMetagraph(api, netuid);
  // Not checkValidator: the commit already passed the rate limit, and the reveal is what completes it.
  const uid = m.neurons.find((x) => x.hotkey === pair.address)?.uid;
  if (uid === undefined) throw new HotkeyNotRegistered({ hotkey: pair.address, netuid, sent: false, message: `the validator's hotkey ${pair.address} is no longer registered on subnet ${netuid}: its commits cannot be revealed` });
  const out: Submission[] = [];
  for (const e of mine) {
    const at = await readCommit(api, netuid, pair.address, e.commitHash);
    const head = await headNumber(api);
    if (at === undefined) throw new RevealRefused({ reason: "no-commit", sent: false, message: `the chain holds no commit ${e.commitHash} of ${pair.address} on subnet ${netuid} (already revealed, expired or never taken)` });
    if (head + 1 < at.first) throw new RevealRefused({ reason: "too-early", sent: false, message: `commit ${e.commitHash} can be revealed from block ${at.first} (head ${head})` });
    if (head + 1 > at.last) throw new RevealRefused({ reason: "expired", sent: false, message: `commit ${e.commitHash} could be revealed until block ${at.last} (head ${head})` });
    const tx = subtensorTx(api)["revealWeights"]?.(netuid, e.uids, e.values, e.salt, e.versionKey) as SubmittableExtrinsic<"promise">;
    const i = await signAndInclude(api, tx, pair, { netuid, hotkey: pair.address });
    dropPending(journal, e.commitHash);
    await confirmWeights(api, netuid, uid, e, poll);
    out.push({ ...i, call: "reveal_weights", netuid, window: e.window, uids: e.uids, values: e.values, versionKey: e.versionKey, commitHash: e.commitHash });
  }
  return out;
};

// Signing, sending and reading the outcome of one extrinsic, and naming its failure. A module
// error is decoded with the node's own metadata (registry.findMetaError) and mapped to the typed
// error a validator can act on; a pool refusal (an RPC error, e.g. 1010 bad signature) likewise.
import type { ApiPromise } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import {
  BadSignature, ChainRejected, type ChainError, CommitmentRefused, CommitRevealMismatch, HotkeyNotRegistered, RevealRefused, UnknownNetuid, WeightsInvalid, WeightsRateLimited,
} from "./errors.js";

/** Where the chain took an extrinsic. */
export interface Included {
  readonly extrinsic: string;
  readonly blockHash: string;
  readonly block: number;
}

interface Context { readonly netuid: number; readonly hotkey: string }

/** A SubtensorModule error, by its runtime name, as a typed error (the chain refused: sent = true). */
export const moduleError = (name: string, docs: string, c: Context): ChainError => {
  const message = `the chain refused: SubtensorModule.${name}${docs === "" ? "" : ` (${docs})`}`;
  const invalid = (rule: WeightsInvalid["rule"]): WeightsInvalid => new WeightsInvalid({ rule, sent: true, message });
  switch (name) {
    case "SettingWeightsTooFast": case "CommittingWeightsTooFast": return new WeightsRateLimited({ netuid: c.netuid, sent: true, message });
    case "CommitRevealEnabled": return new CommitRevealMismatch({ netuid: c.netuid, enabled: true, sent: true, message: `${message}: this subnet takes commit_weights then reveal_weights` });
    case "CommitRevealDisabled": return new CommitRevealMismatch({ netuid: c.netuid, enabled: false, sent: true, message: `${message}: this subnet takes set_weights` });
    case "HotKeyNotRegisteredInSubNet": case "HotKeyNotRegisteredInNetwork": case "HotKeyAccountNotExists":
      return new HotkeyNotRegistered({ hotkey: c.hotkey, netuid: c.netuid, sent: true, message });
    case "SubNetworkDoesNotExist": return new UnknownNetuid({ netuid: c.netuid, sent: true, message });
    case "WeightVecNotEqualSize": case "InputLengthsUnequal": case "UidsLengthExceedUidsInSubNet": return invalid("length");
    case "WeightVecLengthIsLow": return invalid("min-allowed-weights");
    case "MaxWeightExceeded": return invalid("max-weight-limit");
    case "IncorrectWeightVersionKey": return invalid("version-key");
    case "DuplicateUids": return invalid("duplicate-uids");
    case "UidVecContainInvalidOne": return invalid("unknown-uid");
    case "NeuronNoValidatorPermit": return invalid("validator-permit");
    case "NoWeightsCommitFound": return new RevealRefused({ reason: "no-commit", sent: true, message });
    case "RevealTooEarly": return new RevealRefused({ reason: "too-early", sent: true, message });
    case "ExpiredWeightCommit": return new RevealRefused({ reason: "expired", sent: true, message });
    case "InvalidRevealCommitHashNotMatch": return new RevealRefused({ reason: "hash-mismatch", sent: true, message });
    default: return new ChainRejected({ error: `SubtensorModule.${name}`, message });
  }
};

/** A Commitments pallet error, by its runtime name, as a typed error (the chain refused: sent = true). */
export const commitmentsError = (name: string, docs: string, c: Context): ChainError => {
  const message = `the chain refused: Commitments.${name}${docs === "" ? "" : ` (${docs})`}`;
  switch (name) {
    // The runtime's CanCommit: the hotkey must be registered on the subnet.
    case "AccountNotAllowedCommit": return new HotkeyNotRegistered({ hotkey: c.hotkey, netuid: c.netuid, sent: true, message: `${message}: ${c.hotkey} is not registered on subnet ${c.netuid}` });
    case "CommitmentSetRateLimitExceeded": return new CommitmentRefused({ reason: "rate-limited", netuid: c.netuid, sent: true, message });
    default: return new ChainRejected({ error: `Commitments.${name}`, message });
  }
};

/** A module error by its pallet (section) and name: the pallets this adapter calls are typed, others named. */
const palletError = (section: string, name: string, docs: string, c: Context): ChainError => {
  switch (section) {
    case "subtensorModule": return moduleError(name, docs, c);
    case "commitments": return commitmentsError(name, docs, c);
    default: return new ChainRejected({ error: `${section}.${name}`, message: `the chain refused: ${section}.${name}` });
  }
};

/** A refusal by the node's pool or RPC layer (the extrinsic never reached a block). */
export const poolError = (e: unknown): ChainError => {
  const text = e instanceof Error ? e.message : String(e);
  if (/bad signature/i.test(text)) return new BadSignature({ message: `the node refused the extrinsic's signature (${text}): check --hotkey, and that the node is the chain the metadata came from` });
  return new ChainRejected({ error: "pool", message: `the node refused the extrinsic: ${text}` });
};

type Result = { status: { isInBlock: boolean; isFinalized: boolean; isInvalid: boolean; isDropped: boolean; isUsurped: boolean; asInBlock: { toHex(): string }; asFinalized: { toHex(): string }; type: string }; dispatchError?: { isModule: boolean; asModule: unknown; toString(): string } };

/**
 * Signs `tx` with `pair`, sends it and waits until it is in a block; resolves where it landed, or
 * rejects with a typed error (a dispatch error decoded with the metadata, or a pool refusal).
 */
export const signAndInclude = async (api: ApiPromise, tx: SubmittableExtrinsic<"promise">, pair: KeyringPair, c: Context): Promise<Included> => {
  const landed = await new Promise<{ blockHash: string }>((resolve, reject) => {
    let settled = false;
    let unsub: (() => void) | undefined;
    const done = (f: () => void): void => {
      if (settled) return;
      settled = true;
      unsub?.();
      f();
    };
    tx.signAndSend(pair, { nonce: -1 }, (r: Result) => {
      const s = r.status;
      if (s.isInvalid || s.isDropped || s.isUsurped) return done(() => reject(new ChainRejected({ error: s.type, message: `the extrinsic was ${s.type.toLowerCase()} by the node's pool` })));
      if (!s.isInBlock && !s.isFinalized) return;
      const blockHash = (s.isInBlock ? s.asInBlock : s.asFinalized).toHex();
      const err = r.dispatchError;
      if (err === undefined) return done(() => resolve({ blockHash }));
      if (!err.isModule) return done(() => reject(new ChainRejected({ error: err.toString(), message: `the extrinsic failed in block ${blockHash}: ${err.toString()}` })));
      const meta = api.registry.findMetaError(err.asModule as Parameters<typeof api.registry.findMetaError>[0]);
      done(() => reject(palletError(meta.section, meta.name, meta.docs.join(" ").trim(), c)));
    }).then((u) => {
      unsub = u;
      if (settled) u();
    }, (e: unknown) => done(() => reject(poolError(e))));
  });
  const header = await api.rpc.chain.getHeader(landed.blockHash);
  return { extrinsic: tx.hash.toHex(), blockHash: landed.blockHash, block: header.number.toNumber() };
};

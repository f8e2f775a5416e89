// The metagraph of one subnet as the chain holds it at the current head: who is registered at
// which uid, their stake and validator permits, and the hyperparameters a weight vector must
// respect. A snapshot: the chain may move on after the read (the dispatch errors catch that).
import type { ApiPromise } from "@polkadot/api";
import { type ChainEndpoint, connectChain } from "./connect.js";
import { ChainUnavailable, isChainError, UnknownNetuid } from "./errors.js";
import { asBigInt, asNumber, readItem, readMany } from "./storage.js";

export interface ChainNeuron {
  readonly uid: number;
  readonly hotkey: string;
  /** Total stake on the hotkey, in rao (1 TAO = 1e9 rao). */
  readonly stake: bigint;
  readonly validatorPermit: boolean;
  /** Block of the neuron's last weights (0: never). */
  readonly lastUpdate: number;
}

/** The subnet hyperparameters that decide whether a weight vector is accepted. */
export interface WeightHyperparameters {
  /** A vector must name at least min(this, subnet size) uids (zeros count). */
  readonly minAllowedWeights: number;
  /** u16 cap on the largest normalised weight; 65535 means no cap. */
  readonly maxWeightsLimit: number;
  /** Blocks between two weight settings (or commits) of one validator. */
  readonly weightsSetRateLimit: number;
  /** The chain refuses a version_key below this (0: any). */
  readonly weightsVersionKey: number;
  /** set_weights is refused; commit_weights then reveal_weights is the way. */
  readonly commitRevealEnabled: boolean;
  readonly tempo: number;
  readonly revealPeriodEpochs: number;
}

export interface Metagraph {
  readonly netuid: number;
  /** The head block the snapshot was read at. */
  readonly block: number;
  readonly neurons: readonly ChainNeuron[];
  readonly hyperparameters: WeightHyperparameters;
}

/** The current head's number. */
export const headNumber = async (api: ApiPromise): Promise<number> => (await api.rpc.chain.getHeader()).number.toNumber();

/** Reads subnet `netuid`; UnknownNetuid when the chain has no such subnet. */
export const readMetagraph = async (api: ApiPromise, netuid: number): Promise<Metagraph> => {
  if (!Number.isInteger(netuid) || netuid < 0 || netuid > 65535) throw new UnknownNetuid({ netuid, sent: false, message: `netuid must be an integer in 0..65535, got ${netuid}` });
  const block = await headNumber(api);
  if ((await readItem(api, "NetworksAdded", netuid)) !== true) throw new UnknownNetuid({ netuid, sent: false, message: `subnet ${netuid} does not exist on this chain (NetworksAdded is false at block ${block})` });
  const [n, permits, lastUpdate, minAllowedWeights, maxWeightsLimit, weightsSetRateLimit, weightsVersionKey, commitRevealEnabled, tempo, revealPeriodEpochs] = await Promise.all([
    readItem(api, "SubnetworkN", netuid), readItem(api, "ValidatorPermit", netuid), readItem(api, "LastUpdate", netuid),
    readItem(api, "MinAllowedWeights", netuid), readItem(api, "MaxWeightsLimit", netuid), readItem(api, "WeightsSetRateLimit", netuid),
    readItem(api, "WeightsVersionKey", netuid), readItem(api, "CommitRevealWeightsEnabled", netuid), readItem(api, "Tempo", netuid),
    readItem(api, "RevealPeriodEpochs", netuid),
  ]);
  const size = asNumber(n);
  const uids = Array.from({ length: size }, (_, uid) => uid);
  const hotkeys = (await readMany(api, "Keys", uids.map((uid) => [netuid, uid]))).map(String);
  const stakes = await readMany(api, "TotalHotkeyStake", hotkeys);
  const permit = Array.isArray(permits) ? permits : [];
  const last = Array.isArray(lastUpdate) ? lastUpdate : [];
  return {
    netuid, block,
    neurons: uids.map((uid) => ({
      uid, hotkey: hotkeys[uid] as string, stake: asBigInt(stakes[uid] ?? 0), validatorPermit: permit[uid] === true, lastUpdate: asNumber(last[uid] ?? 0),
    })),
    hyperparameters: {
      minAllowedWeights: asNumber(minAllowedWeights), maxWeightsLimit: asNumber(maxWeightsLimit), weightsSetRateLimit: asNumber(weightsSetRateLimit),
      weightsVersionKey: asNumber(weightsVersionKey), commitRevealEnabled: commitRevealEnabled === true, tempo: asNumber(tempo), revealPeriodEpochs: asNumber(revealPeriodEpochs),
    },
  };
};

/** The metagraph as plain JSON (stake as a decimal string: rao overflow doubles). */
export const metagraphJson = (m: Metagraph): object => ({
  netuid: m.netuid, block: m.block, hyperparameters: m.hyperparameters,
  neurons: m.neurons.map((x) => ({ uid: x.uid, hotkey: x.hotkey, stake: x.stake.toString(), validatorPermit: x.validatorPermit, lastUpdate: x.lastUpdate })),
});

/** One subnet's metagraph, read again and again over one connection (a long-running gatekeeper). */
export interface MetagraphReader {
  /** The metagraph at the current head; a chain error (ChainUnavailable, UnknownNetuid) when it cannot be read. */
  read(): Promise<Metagraph>;
  close(): Promise<void>;
}

/**
 * Connects once (ChainUnavailable when the node does not answer) and reads on demand. connectChain
 * does not reconnect by itself (a payout that lost its node must fail), so a read that finds the
 * connection gone fails, and the next read connects again: a server that outlives a node restart
 * keeps following its subnet.
 */
export const metagraphReader = async (endpoint: ChainEndpoint, netuid: number, timeoutMs?: number): Promise<MetagraphReader> => {
  let api: ApiPromise | undefined = await connectChain(endpoint, timeoutMs);
  let closed = false;
  return {
    read: async () => {
      if (closed) throw new ChainUnavailable({ message: "the metagraph reader is closed" });
      api ??= await connectChain(endpoint, timeoutMs);
      const mine = api;
      try {
        return await readMetagraph(mine, netuid);
      } catch (e) {
        if (!mine.isConnected) {
          if (api === mine) api = undefined;
          await mine.disconnect().catch(() => undefined);
        }
        if (isChainError(e)) throw e;
        throw new ChainUnavailable({ message: `cannot read subnet ${netuid}: ${e instanceof Error ? e.message : String(e)}` });
      }
    },
    close: async () => {
      closed = true;
      const last = api;
      api = undefined;
      await last?.disconnect().catch(() => undefined);
    },
  };
};

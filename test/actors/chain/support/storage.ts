// The storage a subnet shows to the chain adapter, keyed and encoded exactly as a node would:
// keys from the metadata's storage entries (hashers included), values SCALE-encoded with the
// entries' own types. Rebuilt from the subnets' (and Commitments') plain state on every read, so
// it never drifts.
import type { TypeRegistry } from "@polkadot/types";
import type { expandMetadata } from "@polkadot/types/metadata/decorate";
import { compactStripLength, u8aToHex } from "@polkadot/util";
import type { Commitments, Subnet } from "./runtime.js";

/** A decorated entry's key carries a compact length prefix; the node's key is what follows it. */
export const storageKey = (prefixed: Uint8Array): string => u8aToHex(compactStripLength(prefixed)[1]);

type Decorated = ReturnType<typeof expandMetadata>;
type Entry = Decorated["query"][string][string];

const valueType = (registry: TypeRegistry, e: Entry): string => {
  const t = e.meta.type;
  return registry.createLookupType(t.isPlain ? t.asPlain : t.asMap.value);
};

/** Every storage key → value the adapter may read, for all subnets (and the Commitments pallet's, when given). */
export const subnetStorage = (registry: TypeRegistry, d: Decorated, subnets: ReadonlyMap<number, Subnet>, commitments?: Commitments): Map<string, string> => {
  const out = new Map<string, string>();
  const putIn = (pallet: string) => (name: string, keys: unknown[], value: unknown): void => {
    const e = (d.query[pallet.charAt(0).toLowerCase() + pallet.slice(1)] as Record<string, Entry> | undefined)?.[name.charAt(0).toLowerCase() + name.slice(1)];
    if (e === undefined) throw new Error(`no storage ${pallet}.${name} in the metadata`);
    out.set(storageKey(e(...keys)), u8aToHex(registry.createType(valueType(registry, e), value).toU8a()));
  };
  const put = putIn("SubtensorModule");
  for (const net of subnets.values()) {
    const n = net.netuid;
    put("NetworksAdded", [n], true);
    put("SubnetworkN", [n], net.neurons.length);
    put("Tempo", [n], net.tempo);
    put("MinAllowedWeights", [n], net.minAllowedWeights);
    put("MaxWeightsLimit", [n], net.maxWeightsLimit);
    put("WeightsSetRateLimit", [n], net.weightsSetRateLimit);
    put("WeightsVersionKey", [n], net.weightsVersionKey);
    put("CommitRevealWeightsEnabled", [n], net.commitRevealEnabled);
    put("RevealPeriodEpochs", [n], net.revealPeriodEpochs);
    put("ValidatorPermit", [n], net.neurons.map((x) => x.permit));
    put("LastUpdate", [n], net.lastUpdate);
    net.neurons.forEach((x, uid) => {
      put("Keys", [n, uid], x.hotkey);
      put("Uids", [n, x.hotkey], uid);
      put("TotalHotkeyStake", [x.hotkey], x.stake);
      const w = net.weights.get(uid);
      if (w !== undefined) put("Weights", [n, uid], w);
      const c = net.commits.get(u8aToHex(registry.createType("AccountId32", x.hotkey).toU8a()));
      if (c !== undefined && c.length > 0) put("WeightCommits", [n, x.hotkey], c);
    });
  }
  const commitment = putIn("Commitments");
  for (const [n, of] of commitments?.of ?? []) for (const [who, r] of of) commitment("CommitmentOf", [n, who], r);
  for (const [n, last] of commitments?.last ?? []) for (const [who, block] of last) commitment("LastCommitment", [n, who], block);
  return out;
};

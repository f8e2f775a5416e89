// A subtensor runtime in miniature, for the weight calls and set_commitment only: the checks of
// pallet_subtensor (spec 219, weights.rs) and pallet_commitments (lib.rs) in their order, over a
// small subnet held as plain data. The provider decodes an extrinsic with the real metadata and
// hands its call here; errors come back by the runtime's own names so they encode as the real
// module errors.
import { blake2AsU8a, decodeAddress } from "@polkadot/util-crypto";
import { u8aToHex } from "@polkadot/util";
import type { TypeRegistry } from "@polkadot/types";

export interface NeuronSpec { readonly hotkey: string; readonly stake: bigint; readonly permit: boolean }

export interface SubnetSpec {
  readonly netuid: number;
  readonly neurons: readonly NeuronSpec[];
  readonly tempo?: number;
  readonly minAllowedWeights?: number;
  readonly maxWeightsLimit?: number;
  readonly weightsSetRateLimit?: number;
  readonly weightsVersionKey?: number;
  readonly commitRevealEnabled?: boolean;
  readonly revealPeriodEpochs?: number;
}

/** The subnet's state: hyperparameters (mutable, so a test can change them after a read), weights, commits. */
export interface Subnet {
  netuid: number;
  neurons: NeuronSpec[];
  tempo: number;
  minAllowedWeights: number;
  maxWeightsLimit: number;
  weightsSetRateLimit: number;
  weightsVersionKey: number;
  commitRevealEnabled: boolean;
  revealPeriodEpochs: number;
  lastUpdate: number[];
  weights: Map<number, Array<[number, number]>>;
  /** (hotkey hex) → [hash, commit block, first reveal block, last reveal block]. */
  commits: Map<string, Array<[string, number, number, number]>>;
}

export const makeSubnet = (s: SubnetSpec): Subnet => ({
  netuid: s.netuid, neurons: [...s.neurons], tempo: s.tempo ?? 10, minAllowedWeights: s.minAllowedWeights ?? 1,
  maxWeightsLimit: s.maxWeightsLimit ?? 65535, weightsSetRateLimit: s.weightsSetRateLimit ?? 100, weightsVersionKey: s.weightsVersionKey ?? 0,
  commitRevealEnabled: s.commitRevealEnabled ?? false, revealPeriodEpochs: s.revealPeriodEpochs ?? 1,
  lastUpdate: s.neurons.map(() => 0), weights: new Map(), commits: new Map(),
});

/** What a weight call did: the SubtensorModule event it emits, or the error it fails with. */
export type Outcome = { readonly ok: true; readonly event: { readonly name: string; readonly args: readonly unknown[] } } | { readonly ok: false; readonly error: string };

const fail = (error: string): Outcome => ({ ok: false, error });

const uidOf = (net: Subnet, who: string): number | undefined => {
  const i = net.neurons.findIndex((n) => n.hotkey === who);
  return i < 0 ? undefined : i;
};

/** u16 max-upscale as subtensor's `vec_u16_max_upscale_to_u16`: the largest becomes 65535. */
const upscale = (values: readonly number[]): number[] => {
  const max = Math.max(0, ...values);
  return max === 0 ? [...values] : values.map((v) => Math.round((v * 65535) / max));
};

/** do_set_weights after its origin and commit-reveal checks: the shared body of set_weights and reveal_weights. */
const setWeights = (net: Subnet, who: string, block: number, uids: number[], values: number[], versionKey: number): Outcome => {
  if (uids.length !== values.length) return fail("WeightVecNotEqualSize");
  if (!(net.weightsVersionKey === 0 || versionKey >= net.weightsVersionKey)) return fail("IncorrectWeightVersionKey");
  const uid = uidOf(net, who);
  if (uid === undefined) return fail("HotKeyNotRegisteredInSubNet");
  const self = uids.length === 1 && uids[0] === uid;
  if (!self && !(net.neurons[uid] as NeuronSpec).permit) return fail("NeuronNoValidatorPermit");
  const last = net.lastUpdate[uid] ?? 0;
  if (last !== 0 && block - last < net.weightsSetRateLimit) return fail("SettingWeightsTooFast");
  if (new Set(uids).size !== uids.length) return fail("DuplicateUids");
  if (uids.some((u) => u >= net.neurons.length)) return fail("UidVecContainInvalidOne");
  if (!self && uids.length < Math.min(net.minAllowedWeights, net.neurons.length)) return fail("WeightVecLengthIsLow");
  if (uids.length > net.neurons.length) return fail("UidsLengthExceedUidsInSubNet");
  if (!self && net.maxWeightsLimit !== 65535) {
    const sum = values.reduce((a, b) => a + b, 0);
    if (sum > 0 && Math.max(...values) / sum > net.maxWeightsLimit / 65535) return fail("MaxWeightExceeded");
  }
  const up = upscale(values);
  net.weights.set(uid, uids.map((u, i) => [u, up[i] as number]));
  net.lastUpdate[uid] = block;
  return { ok: true, event: { name: "WeightsSet", args: [net.netuid, uid] } };
};

/** The chain's own commit hash: BlakeTwo256::hash_of(&(who, netuid, uids, values, salt, version_key)). */
export const chainCommitHash = (registry: TypeRegistry, who: string, netuid: number, uids: number[], values: number[], salt: number[], versionKey: number): string =>
  u8aToHex(blake2AsU8a(registry.createType("(AccountId32, u16, Vec<u16>, Vec<u16>, Vec<u16>, u64)", [who, netuid, uids, values, salt, versionKey]).toU8a(), 256));

/** Applies one SubtensorModule weight call signed by `who` (ss58) in block `block`. */
export const applyWeightCall = (
  registry: TypeRegistry, nets: ReadonlyMap<number, Subnet>, who: string, block: number, method: string, args: Record<string, unknown>,
): Outcome => {
  const netuid = Number(args["netuid"]);
  const net = nets.get(netuid);
  const nums = (k: string): number[] => (args[k] as number[]).map(Number);
  switch (method) {
    case "set_weights":
      if (net === undefined) return fail("SubNetworkDoesNotExist");
      if (net.commitRevealEnabled) return fail("CommitRevealEnabled");
      return setWeights(net, who, block, nums("dests"), nums("weights"), Number(args["version_key"]));
    case "commit_weights": {
      if (net === undefined) return fail("SubNetworkDoesNotExist");
      if (!net.commitRevealEnabled) return fail("CommitRevealDisabled");
      if (uidOf(net, who) === undefined) return fail("HotKeyNotRegisteredInSubNet");
      const key = u8aToHex(decodeAddress(who));
      const first = block + net.tempo * net.revealPeriodEpochs;
      net.commits.set(key, [...(net.commits.get(key) ?? []), [String(args["commit_hash"]), block, first, first + net.tempo]]);
      return { ok: true, event: { name: "WeightsCommitted", args: [who, netuid, String(args["commit_hash"])] } };
    }
    case "reveal_weights": {
      if (net === undefined) return fail("SubNetworkDoesNotExist");
      if (!net.commitRevealEnabled) return fail("CommitRevealDisabled");
      const key = u8aToHex(decodeAddress(who));
      const commits = net.commits.get(key) ?? [];
      if (commits.length === 0) return fail("NoWeightsCommitFound");
      const hash = chainCommitHash(registry, who, netuid, nums("uids"), nums("values"), nums("salt"), Number(args["version_key"]));
      const i = commits.findIndex((c) => c[0] === hash);
      if (i < 0) return fail("InvalidRevealCommitHashNotMatch");
      const c = commits[i] as [string, number, number, number];
      if (block < c[2]) return fail("RevealTooEarly");
      if (block > c[3]) return fail("ExpiredWeightCommit");
      const r = setWeights(net, who, block, nums("uids"), nums("values"), Number(args["version_key"]));
      if (r.ok) net.commits.set(key, commits.filter((_, j) => j !== i));
      return r;
    }
    default:
      return fail(`unexpected call SubtensorModule.${method}`);
  }
};

/** pallet_commitments' Registration: what CommitmentOf(netuid, who) holds. */
export interface Registration { readonly deposit: bigint; readonly block: number; readonly info: unknown }

/** pallet_commitments' storage, by netuid then hotkey (ss58): CommitmentOf and LastCommitment. */
export interface Commitments {
  readonly of: Map<number, Map<string, Registration>>;
  readonly last: Map<number, Map<string, number>>;
}

export const makeCommitments = (): Commitments => ({ of: new Map(), last: new Map() });

/** The pallet's constants as the metadata states them (spec 219: 1 field, 100 blocks, no deposit). */
export interface CommitmentLimits { readonly maxFields: number; readonly rateLimit: number; readonly initialDeposit: bigint; readonly fieldDeposit: bigint }

/**
 * Applies Commitments.set_commitment signed by `who` in block `block`, as the pallet does: the
 * runtime's CanCommit (the hotkey is registered on the subnet), at most MaxFields fields, one
 * commitment per RateLimit blocks; then CommitmentOf and LastCommitment are written and
 * Commitment { netuid, who } is emitted.
 */
export const applyCommitmentCall = (
  nets: ReadonlyMap<number, Subnet>, c: Commitments, limits: CommitmentLimits, who: string, block: number, method: string, args: Record<string, unknown>,
): Outcome => {
  if (method !== "set_commitment") return fail(`unexpected call Commitments.${method}`);
  const netuid = Number(args["netuid"]);
  const net = nets.get(netuid);
  if (net === undefined || uidOf(net, who) === undefined) return fail("AccountNotAllowedCommit");
  const info = args["info"] as { fields: unknown[] };
  if (info.fields.length > limits.maxFields) return fail("TooManyFieldsInCommitmentInfo");
  const last = c.last.get(netuid)?.get(who);
  if (last !== undefined && block < last + limits.rateLimit) return fail("CommitmentSetRateLimitExceeded");
  const of = c.of.get(netuid) ?? new Map<string, Registration>();
  const lastOf = c.last.get(netuid) ?? new Map<string, number>();
  // No Currency here: the deposit is recorded, not reserved (both constants are 0 on subtensor).
  of.set(who, { deposit: limits.initialDeposit + BigInt(info.fields.length) * limits.fieldDeposit, block, info });
  lastOf.set(who, block);
  c.of.set(netuid, of);
  c.last.set(netuid, lastOf);
  return { ok: true, event: { name: "Commitment", args: [netuid, who] } };
};

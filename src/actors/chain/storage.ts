// Typed reads of SubtensorModule storage. @polkadot/api has no type augmentation for subtensor, so
// each read names its item and converts the codec to a plain value here, once; an item missing
// from the node's metadata (a runtime this adapter was not written for) is ChainUnavailable.
import type { ApiPromise } from "@polkadot/api";
import { ChainUnavailable } from "./errors.js";

type Codec = { toJSON(): unknown; toString(): string; isEmpty: boolean };
type Query = ((...args: unknown[]) => Promise<Codec>) & { multi(keys: unknown[]): Promise<Codec[]> };

const item = (api: ApiPromise, name: string): Query => {
  const q = (api.query["subtensorModule"] as Record<string, unknown> | undefined)?.[name.charAt(0).toLowerCase() + name.slice(1)];
  if (q === undefined) throw new ChainUnavailable({ message: `the node's runtime has no SubtensorModule.${name} (spec ${api.runtimeVersion.specVersion.toString()}): this adapter reads subtensor's storage as of spec 219` });
  return q as Query;
};

/** One storage value as JSON (numbers, booleans, hex and ss58 strings, arrays). */
export const readItem = async (api: ApiPromise, name: string, ...keys: unknown[]): Promise<unknown> => (await item(api, name)(...keys)).toJSON();

/** Several values of one item in one round trip. */
export const readMany = async (api: ApiPromise, name: string, keys: unknown[]): Promise<unknown[]> =>
  keys.length === 0 ? [] : (await item(api, name).multi(keys)).map((c) => c.toJSON());

/** A stored u64 or u16 as a number; u64 values here (stake aside) are small: block counts and keys. */
export const asNumber = (v: unknown): number => (typeof v === "number" ? v : Number(asBigInt(v)));

/** A u64 balance as a bigint (rao), exactly. */
export const asBigInt = (v: unknown): bigint => (typeof v === "number" ? BigInt(v) : BigInt(String(v)));

// After the chain took an extrinsic, read back that it holds what was sent: a reveal that fails
// does so silently on some runtimes (DESIGN "Bittensor weights"), and an inclusion event alone
// does not say which weights are stored.
import type { ApiPromise } from "@polkadot/api";
import { WeightsNotHeld } from "./errors.js";
import { asNumber, readItem } from "./storage.js";
import { maxUpscale, type WeightVector } from "./vector.js";

export interface PollOptions {
  /** Reads before giving up (default 5). */
  readonly tries?: number;
  /** Waits between reads (default: the next block, ~12 s on subtensor). */
  readonly wait?: () => Promise<void>;
}

const blockWait = (): Promise<void> => new Promise((r) => setTimeout(r, 12_000));

const poll = async (read: () => Promise<boolean>, o: PollOptions, fail: () => WeightsNotHeld): Promise<void> => {
  const tries = o.tries ?? 5;
  for (let i = 0; i < tries; i++) {
    if (await read()) return;
    if (i + 1 < tries) await (o.wait ?? blockWait)();
  }
  throw fail();
};

/**
 * Weights(netuid, uid) equals the vector, max-upscaled as the chain stores it. The adapter always
 * sends a max-upscaled vector (largest 65535), so the chain's own upscale is the identity and
 * its fixed-point rounding cannot differ from ours.
 */
export const confirmWeights = async (api: ApiPromise, netuid: number, uid: number, v: WeightVector, o: PollOptions = {}): Promise<void> => {
  const want = v.uids.map((u, i) => [u, maxUpscale(v.values)[i] as number]);
  let got: unknown = null;
  await poll(async () => {
    got = await readItem(api, "Weights", netuid, uid);
    return Array.isArray(got) && JSON.stringify((got as unknown[][]).map((p) => p.map(asNumber))) === JSON.stringify(want);
  }, o, () => new WeightsNotHeld({ netuid, message: `after the extrinsic, Weights(${netuid}, ${uid}) holds ${JSON.stringify(got)}, not the ${want.length} weights sent` }));
};

/** WeightCommits(netuid, hotkey) holds the commit hash. */
export const confirmCommit = async (api: ApiPromise, netuid: number, hotkey: string, hash: string, o: PollOptions = {}): Promise<void> => {
  await poll(async () => {
    const got = await readItem(api, "WeightCommits", netuid, hotkey);
    return Array.isArray(got) && got.some((c) => Array.isArray(c) && c[0] === hash);
  }, o, () => new WeightsNotHeld({ netuid, message: `after commit_weights, WeightCommits(${netuid}, ${hotkey}) does not hold ${hash}` }));
};

/** The chain's record of one pending commit: [hash, commit block, first reveal block, last reveal block]. */
export const readCommit = async (api: ApiPromise, netuid: number, hotkey: string, hash: string): Promise<{ readonly first: number; readonly last: number } | undefined> => {
  const got = await readItem(api, "WeightCommits", netuid, hotkey);
  const c = Array.isArray(got) ? (got as unknown[][]).find((x) => x[0] === hash) : undefined;
  return c === undefined ? undefined : { first: asNumber(c[2]), last: asNumber(c[3]) };
};

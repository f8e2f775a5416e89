// Opening @polkadot/api on a subtensor node: a ws:// URL in production, any ProviderInterface in
// tests (an in-process node serving real metadata). Subtensor's two custom signed extensions add
// no bytes (spec 219); without telling the API so, it refuses to sign.
import { ApiPromise, WsProvider } from "@polkadot/api";
import type { ApiOptions } from "@polkadot/api/types";
import { ChainUnavailable } from "./errors.js";

/** A provider @polkadot/api accepts: what `--chain URL` becomes, or an in-process one. */
export type ChainProvider = NonNullable<ApiOptions["provider"]>;

/** What DESIGN "Bittensor weights" prescribes for subtensor's extensions. */
export const SUBTENSOR_SIGNED_EXTENSIONS = {
  SubtensorSignedExtension: { extrinsic: {}, payload: {} },
  CommitmentsSignedExtension: { extrinsic: {}, payload: {} },
} as const;

/** Where to reach the chain: a ws(s):// URL or a provider. */
export type ChainEndpoint = string | ChainProvider;

/** Connects and waits until the metadata is loaded; a node that does not answer in `timeoutMs` is ChainUnavailable. */
export const connectChain = async (endpoint: ChainEndpoint, timeoutMs = 30_000): Promise<ApiPromise> => {
  let provider: ChainProvider;
  if (typeof endpoint === "string") {
    if (!/^wss?:\/\//.test(endpoint)) throw new ChainUnavailable({ message: `--chain must be a ws:// or wss:// URL of a subtensor node, got "${endpoint}"` });
    // No automatic reconnection: a payout that lost its node must fail, not hang.
    provider = new WsProvider(endpoint, false);
    try {
      await (provider as WsProvider).connect();
    } catch (e) {
      throw new ChainUnavailable({ message: `cannot reach ${endpoint}: ${e instanceof Error ? e.message : String(e)}` });
    }
  } else provider = endpoint;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ChainUnavailable({ message: `the chain did not answer within ${timeoutMs} ms` })), timeoutMs);
  });
  try {
    return await Promise.race([ApiPromise.create({ provider, signedExtensions: SUBTENSOR_SIGNED_EXTENSIONS, throwOnConnect: true, noInitWarn: true }), timeout]);
  } catch (e) {
    if (e instanceof ChainUnavailable) throw e;
    // A refused websocket surfaces as a DOM-like event, not an Error: name the endpoint instead.
    const why = e instanceof Error ? e.message : typeof endpoint === "string" ? `no subtensor node answers at ${endpoint}` : String(e);
    throw new ChainUnavailable({ message: `cannot open the chain API: ${why}` });
  } finally {
    clearTimeout(timer);
  }
};

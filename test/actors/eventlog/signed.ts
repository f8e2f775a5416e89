// Test support: actors with real hotkeys, certified session keys and ActorChains, producing
// signed, hash-chained envelopes (ClockTicked after the SessionKeyCertified that opens a chain).
import { certifySessionKey, fixedRng, loadHotkey, nodeCrypto, sessionKey } from "../../../src/actors/identity/index.js";
import { ActorChain, sessionCertifiedDraft } from "../../../src/events/chain.js";
import type { Draft, Envelope } from "../../../src/events/envelope.js";
import { buildRegistry } from "../../../src/events/registry.js";
import { coreEvents } from "../../../src/events/schemas/index.js";

export const registry = buildRegistry(coreEvents);
export const crypto = nodeCrypto;

export interface SignedActor {
  readonly actor: string;
  readonly chain: ActorChain;
  /** The SessionKeyCertified that opens the chain (seq 1). */
  open(): Envelope[];
  /** `n` ClockTicked events, sealed as one batch (the last one signed). */
  ticks(n: number): Envelope[];
  /** Drafts for `n` ticks without sealing them. */
  drafts(n: number): Draft[];
}

/** A signed actor for `run` from a hotkey URI; deterministic keys and ids. */
export const signedActor = (run: string, uri: string, seedByte: number): SignedActor => {
  const hotkey = loadHotkey(uri);
  const session = sessionKey(new Uint8Array(32).fill(seedByte));
  const chain = new ActorChain(crypto, session, run, hotkey.address);
  let tick = 0;
  const drafts = (n: number): Draft[] =>
    Array.from({ length: n }, () => {
      tick += 1;
      return { id: `${hotkey.address.slice(0, 10)}-t${tick}`, type: "ClockTicked", v: 1, step: tick, payload: { tick } };
    });
  return {
    actor: hotkey.address,
    chain,
    open: () =>
      chain.seal([sessionCertifiedDraft(certifySessionKey(hotkey, run, session, fixedRng()), { id: `${hotkey.address.slice(0, 10)}-cert`, step: 0 })]),
    ticks: (n) => chain.seal(drafts(n)),
    drafts,
  };
};

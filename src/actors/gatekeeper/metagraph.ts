// The gatekeeper's registry from a subnet's metagraph: a snapshot read at start, re-read on a
// schedule and when an unknown hotkey asks to join (at most once per `recheckGapMs`, so join spam
// cannot hammer the chain). A failed or slow read keeps the last snapshot: a chain hiccup must not
// lock members out, nor take the server down. The read itself is injected (the chain adapter's).
import { type Member, type Registry, registryChanges, type RegistryChanges, type RegisteredNeuron, registryOfMetagraph } from "../../machines/gatekeeper/index.js";
import type { Gatekeeper } from "./host.js";

/** What the registry needs of a metagraph (the chain adapter's Metagraph is one). */
export interface MetagraphSnapshot {
  readonly netuid: number;
  /** The head block it was read at: an older snapshot never replaces a newer one. */
  readonly block: number;
  readonly neurons: readonly RegisteredNeuron[];
}

export interface MetagraphRegistryOptions {
  /** Reads the subnet's metagraph at the chain's head. */
  readonly read: () => Promise<MetagraphSnapshot>;
  /** The hotkeys that may join as a run's orchestrator (the chain does not say who runs a run). */
  readonly orchestrators: readonly string[];
  /** An unknown hotkey triggers a re-read only when the last read started longer ago than this. */
  readonly recheckGapMs?: number;
  /** A read slower than this is given up on for the caller (the last snapshot decides); it may still land later. */
  readonly readTimeoutMs?: number;
  /** The wall clock, for the rate limit only (no decision reads it). */
  readonly now?: () => number;
  /** A new snapshot was taken (also the first), with its registry and how that differs from the last one. */
  readonly onSnapshot?: (m: MetagraphSnapshot, registry: Registry, changes: RegistryChanges) => void;
  /** A re-read failed or timed out; the last snapshot stays. */
  readonly onReadFailed?: (message: string, kept: MetagraphSnapshot) => void;
}

export interface MetagraphRegistry {
  /** Who may join, from the latest snapshot. */
  readonly registry: () => Registry;
  readonly snapshot: () => MetagraphSnapshot;
  /** Re-reads now (sharing a read in flight); false when it failed and the last snapshot stays. */
  refresh(): Promise<boolean>;
  /** For a hotkey the registry lacks: re-reads unless a read started within `recheckGapMs`. */
  recheck(): Promise<void>;
}

export const RECHECK_GAP_MS = 5_000;
export const READ_TIMEOUT_MS = 10_000;

const message = (e: unknown): string =>
  e instanceof Error ? `${"_tag" in e && typeof e._tag === "string" ? `${e._tag}: ` : ""}${e.message}` : String(e);

/** Reads the first snapshot (its failure is the caller's: a server must not start on a subnet it cannot read) and keeps it fresh on demand. */
export const openMetagraphRegistry = async (o: MetagraphRegistryOptions): Promise<MetagraphRegistry> => {
  const now = o.now ?? Date.now;
  const gap = o.recheckGapMs ?? RECHECK_GAP_MS;
  const timeoutMs = o.readTimeoutMs ?? READ_TIMEOUT_MS;
  let lastStart = now();
  let snap = await o.read();
  let registry = registryOfMetagraph(snap.neurons, o.orchestrators);
  o.onSnapshot?.(snap, registry, registryChanges(new Map(), registry));

  const take = (m: MetagraphSnapshot): void => {
    if (m.block < snap.block) return;
    const next = registryOfMetagraph(m.neurons, o.orchestrators);
    const before = registry;
    snap = m;
    registry = next;
    o.onSnapshot?.(m, next, registryChanges(before, next));
  };

  /** The read in flight, shared by every caller until it settles. */
  let inflight: Promise<boolean> | undefined;
  const read = (): Promise<boolean> => {
    if (inflight !== undefined) return inflight;
    lastStart = now();
    const p: Promise<boolean> = o.read().then(
      (m) => { take(m); return true; },
      (e: unknown) => { o.onReadFailed?.(message(e), snap); return false; },
    ).finally(() => { if (inflight === p) inflight = undefined; });
    inflight = p;
    return p;
  };
  /**
   * Waits for a read at most `timeoutMs`. A slow read keeps going and lands if it is still the
   * newest, but no longer blocks the next one (a node that stopped answering must not freeze the gate).
   */
  const bounded = async (p: Promise<boolean>): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        // Said once per read, by the first caller to give up on it (others may share it).
        if (inflight === p) {
          inflight = undefined;
          o.onReadFailed?.(`the chain did not answer within ${timeoutMs} ms`, snap);
        }
        resolve(false);
      }, timeoutMs);
    });
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    registry: () => registry,
    snapshot: () => snap,
    refresh: () => bounded(read()),
    recheck: async () => {
      if (inflight === undefined && now() - lastStart < gap) return;
      await bounded(read());
    },
  };
};

export interface MetagraphFollower {
  /** Re-reads the metagraph now and removes the members it no longer admits (what the timer does). */
  refresh(): Promise<readonly Member[]>;
  stop(): void;
}

/**
 * Re-reads the metagraph every `everyMs` and removes from `gate` the members the new snapshot no
 * longer admits (the server then disconnects them). A failed read keeps the last snapshot, so it
 * removes nobody.
 */
export const followMetagraph = (source: MetagraphRegistry, gate: Pick<Gatekeeper, "retain">, everyMs: number): MetagraphFollower => {
  let running: Promise<readonly Member[]> | undefined;
  const refresh = (): Promise<readonly Member[]> => {
    running ??= (async () => {
      try {
        await source.refresh();
        // Also after a failed read: the registry then is the last snapshot, which the members fit.
        return await gate.retain(source.registry());
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => void refresh().catch(() => undefined), everyMs);
  // The server's own lifetime (its signal handlers) keeps the process up, not this timer.
  timer.unref();
  return { refresh, stop: () => clearInterval(timer) };
};

// Who a subnet's metagraph admits, as a Registry, and what a new snapshot means for the members
// already admitted. Pure: the snapshot arrives as data (the chain adapter reads it), so the rules
// are the same whether the chain, a test or an auditor supplies the neurons.
import type { JoinRole, Registry } from "./admit.js";

/** A registered neuron as a metagraph snapshot holds it (the chain adapter's ChainNeuron is one). */
export interface RegisteredNeuron {
  readonly hotkey: string;
  readonly validatorPermit: boolean;
}

/**
 * The registry a metagraph grants: every registered hotkey may join as a miner, and one with a
 * validator permit also as a validator. The chain says nothing about who runs a run, so the
 * orchestrator role goes only to the hotkeys the operator names (they need not be registered; a
 * registered one keeps its miner and validator roles too).
 */
export const registryOfMetagraph = (neurons: readonly RegisteredNeuron[], orchestrators: readonly string[]): Registry => {
  const out = new Map<string, Set<JoinRole>>();
  const grant = (hotkey: string, ...roles: JoinRole[]): void => {
    const has = out.get(hotkey) ?? new Set<JoinRole>();
    for (const r of roles) has.add(r);
    out.set(hotkey, has);
  };
  for (const n of neurons) grant(n.hotkey, ...(n.validatorPermit ? (["miner", "validator"] as const) : (["miner"] as const)));
  for (const o of orchestrators) grant(o, "orchestrator");
  return out;
};

/** An admitted member of one run: the hotkey and the role it was admitted as. */
export interface Member {
  readonly run: string;
  readonly hotkey: string;
  readonly role: JoinRole;
}

/**
 * The members a registry no longer admits in the role they hold: a deregistered hotkey, or a
 * validator whose permit lapsed (it may rejoin as a miner). Auditors need no registration and stay.
 * Input order is kept.
 */
export const revokedMembers = (members: readonly Member[], registry: Registry): Member[] =>
  members.filter((m) => m.role !== "auditor" && registry.get(m.hotkey)?.has(m.role) !== true);

/** How one registry differs from the previous one, for the operator's log (each list sorted). */
export interface RegistryChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Hotkeys in both whose roles differ (a validator permit gained or lost). */
  readonly changed: readonly string[];
}

const sameRoles = (a: ReadonlySet<JoinRole>, b: ReadonlySet<JoinRole>): boolean => a.size === b.size && [...a].every((r) => b.has(r));

export const registryChanges = (before: Registry, after: Registry): RegistryChanges => {
  const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
  return {
    added: sorted([...after.keys()].filter((h) => !before.has(h))),
    removed: sorted([...before.keys()].filter((h) => !after.has(h))),
    changed: sorted([...after].filter(([h, roles]) => { const was = before.get(h); return was !== undefined && !sameRoles(was, roles); }).map(([h]) => h)),
  };
};

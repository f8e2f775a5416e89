// The whole vocabulary a Swarmline log may hold (core + swarm facts), for tools that read any log:
// the verifier CLI, the auditor.
import { buildRegistry, type EventDefinition, type EventRegistry } from "./registry.js";
import { coreEvents } from "./schemas/core.js";
import { swarmEvents } from "./swarm/index.js";

const coreKeys = new Set(coreEvents.map((d) => `${d.type}@${d.v}`));

/**
 * Every definition, core first. TODO(#4): swarm/run.ts defines its own ClockTicked v1 (the same
 * shape as the core one); once it re-exports the core definition this filter can go.
 */
export const allEvents: readonly EventDefinition[] = [
  ...coreEvents,
  ...(swarmEvents as readonly EventDefinition[]).filter((d) => !(d.type === "ClockTicked" && coreKeys.has(`${d.type}@${d.v}`))),
];

/** A registry of every fact type a Swarmline log may hold. */
export const vocabularyRegistry = (): EventRegistry => buildRegistry(allEvents);

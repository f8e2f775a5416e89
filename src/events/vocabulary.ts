// The whole vocabulary a Swarmline log may hold (core + swarm facts), for tools that read any log:
// the verifier CLI, the auditor.
import { buildRegistry, type EventDefinition, type EventRegistry } from "./registry.js";
import { coreEvents } from "./schemas/core.js";
import { swarmEvents } from "./swarm/index.js";

/** Every definition, core first. The swarm set re-exports core's ClockTicked (the registry accepts the same definition twice). */
export const allEvents: readonly EventDefinition[] = [...coreEvents, ...(swarmEvents as readonly EventDefinition[])];

/** A registry of every fact type a Swarmline log may hold. */
export const vocabularyRegistry = (): EventRegistry => buildRegistry(allEvents);

// The core facts every run has, whatever it trains: an actor certifying its session key (the
// first event of every actor chain), the run starting, clock ticks, and actor checkpoints.
import { Schema } from "effect";
import { defineEvent, type EventDefinition } from "../registry.js";
import { Count, Hex32, Hex64, Positive, Ss58 } from "./fields.js";

/**
 * The actor's hotkey certified an ed25519 session key for this run. Opens every actor chain
 * (seq 1); appearing later it re-keys the chain (a restarted actor with a fresh session key):
 * the new key signs from this event on. The event itself is signed by the new key.
 */
export const SessionKeyCertified = defineEvent(
  "SessionKeyCertified",
  1,
  Schema.Struct({ hotkey: Ss58, sessionKey: Hex32, certificate: Hex64 }),
);
export type SessionKeyCertified = typeof SessionKeyCertified.schema.Type;

/** The run owner started the run: the seed every seeded decision derives from, and its shape. */
export const RunStarted = defineEvent(
  "RunStarted",
  1,
  Schema.Struct({
    /** Run seed; seeded choices draw from (seed, event id). */
    seed: Count,
    /** Number of pipeline stages. */
    stages: Positive,
    /** Free text for humans; no decision reads it. */
    description: Schema.String,
  }),
);
export type RunStarted = typeof RunStarted.schema.Type;

/**
 * The actor folded its chain up to `through` into a state with sha256 `stateHash`: a restarting
 * actor or an auditor may start from a verified snapshot instead of seq 1.
 */
export const ActorCheckpointed = defineEvent(
  "ActorCheckpointed",
  1,
  Schema.Struct({ through: Positive, stateHash: Hex32, step: Count }),
);
export type ActorCheckpointed = typeof ActorCheckpointed.schema.Type;

/**
 * The actor recorded a tick of its logical clock. Time enters decisions only this way: a timeout
 * is "N ticks passed with no heartbeat", decided when the tick is processed, never by wall time.
 */
export const ClockTicked = defineEvent("ClockTicked", 1, Schema.Struct({ tick: Count }));
export type ClockTicked = typeof ClockTicked.schema.Type;

/** Every core definition, for `buildRegistry`. */
export const coreEvents: readonly EventDefinition[] = [SessionKeyCertified, RunStarted, ClockTicked, ActorCheckpointed];

// The event vocabulary's definitions, gathered for registries.
export { ActorCheckpointed, ClockTicked, coreEvents, RunStarted, SessionKeyCertified } from "./core.js";
export { Count, Hex32, Hex64, Positive, Ss58 } from "./fields.js";

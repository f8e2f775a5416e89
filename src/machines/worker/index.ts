// The stage worker: an XState machine over pure reactions. Hosts create an actor from
// `workerMachine.provide({ actions })` (or listen to its emitted effects) and feed it facts.
export { workerMachine, type WorkerMachine } from "./machine.js";
export * as reactions from "./reactions.js";
export { reduceTask, signalsOf } from "./signals.js";
export type { Effect, OuterTask, ReduceTask, Signal, Work, WorkerContext, WorkerDraft, WorkerEvent, WorkerInput } from "./types.js";

// The stage worker as an XState v5 machine: joining -> loading -> training <-> merging -> gone.
// It decides what the miner does next; the host performs it through named actions supplied with
// `workerMachine.provide({ actions })` and feeds back facts and results. Reactions are pure
// (reactions.ts); the machine says when each applies.
import { emit, enqueueActions, setup } from "xstate";
import { initialState } from "../orchestrator/index.js";
import * as R from "./reactions.js";
import { signalsOf } from "./signals.js";
import type { Effect, WorkerContext, WorkerEvent, WorkerInput } from "./types.js";

type Params<T extends Effect["type"]> = Extract<Effect, { type: T }>["params"];
type Ev<T extends WorkerEvent["type"]> = Extract<WorkerEvent, { type: T }>;

/** The named action `apply`, with the reaction of `f` to the current context and event as params. */
const react = <E extends WorkerEvent>(f: (c: WorkerContext, e: E) => R.Reaction) => ({
  type: "apply" as const,
  params: ({ context, event }: { context: WorkerContext; event: WorkerEvent }): R.Reaction => f(context, event as E),
});

/**
 * Effects default to `emit`ting themselves (listen with actor.on(type, ...)); a host may instead
 * replace them with machine.provide({ actions: { forward: (_, params) => ... } }).
 */
export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    input: {} as WorkerInput,
    emitted: {} as Effect,
  },
  actions: {
    publish: emit((_, params: Params<"publish">) => ({ type: "publish" as const, params })),
    forward: emit((_, params: Params<"forward">) => ({ type: "forward" as const, params })),
    lastStage: emit((_, params: Params<"lastStage">) => ({ type: "lastStage" as const, params })),
    backward: emit((_, params: Params<"backward">) => ({ type: "backward" as const, params })),
    stepOptimizer: emit((_, params: Params<"stepOptimizer">) => ({ type: "stepOptimizer" as const, params })),
    sendPartitions: emit((_, params: Params<"sendPartitions">) => ({ type: "sendPartitions" as const, params })),
    snapshotWeights: emit((_, params: Params<"snapshotWeights">) => ({ type: "snapshotWeights" as const, params })),
    reduce: emit((_, params: Params<"reduce">) => ({ type: "reduce" as const, params })),
    loadWeights: emit((_, params: Params<"loadWeights">) => ({ type: "loadWeights" as const, params })),
    storeWeights: emit((_, params: Params<"storeWeights">) => ({ type: "storeWeights" as const, params })),
    applyMerge: emit((_, params: Params<"applyMerge">) => ({ type: "applyMerge" as const, params })),
    openWeights: emit((_, params: Params<"openWeights">) => ({ type: "openWeights" as const, params })),
    /** Applies a pure reaction: its context, then its effects (the named actions above), in order. */
    apply: enqueueActions(({ enqueue }, r: R.Reaction) => {
      enqueue.assign(() => r.context);
      for (const e of r.effects) (enqueue as unknown as (a: Effect) => void)(e);
    }),
  },
  guards: {
    /** The merge that completed is this stage's current one. */
    isCurrentMerge: ({ context, event }) => event.type === "merge.completed" && event.merge === context.merge,
    /** A merge of this stage started while the previous one's result was loading. */
    hasNextMerge: ({ context }) => context.nextMerge !== null,
    /** The run trains on while a stage merges. */
    overlaps: ({ context }) => R.overlapsMerges(context),
  },
}).createMachine({
  id: "stageWorker",
  context: ({ input }) => ({
    ...input, stage: null, view: initialState(), tick: 0, lastPublished: 0, published: 0, pending: 0, held: [], done: {},
    steps: 0, accumulated: [], awaiting: [], optimizerSteps: 0, sinceStore: 0, merge: null, nextMerge: null, joinId: null, listening: false,
  }),
  initial: "joining",
  on: {
    // Every fact: update the view, then raise the signals it means for this miner.
    fact: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const e = event as Ev<"fact">;
        // A delayed delivery carries an older view: keep the newest one.
        const view = e.view.folded >= context.view.folded ? e.view : context.view;
        const ctx = { ...context, view };
        if (ctx.listening) {
          enqueue.assign({ view });
          for (const s of signalsOf(ctx, e.fact, view)) enqueue.raise(s);
        } else if (ctx.joinId !== null && e.fact.actor === ctx.me && e.fact.id === ctx.joinId) {
          enqueue.assign({ view, listening: true });
        } else if (ctx.joinId === null && view.config !== null) {
          enqueue({ type: "apply", params: R.onJoin(ctx) });
        } else {
          enqueue.assign({ view });
        }
      }),
    },
    "clock.ticked": { actions: react(R.onTick) },
    "lease.closed": { actions: react(R.onLeaseClosed) },
    "reduce.requested": { actions: react((c, e: Ev<"reduce.requested">) => R.onReduceRequested(c, e.task)) },
    "reduce.done": { actions: react(R.onReduceDone) },
    "forward.done": { actions: react(R.onForwardDone) },
    "loss.done": { actions: react(R.onLossDone) },
    "backward.done": { actions: react(R.onBackwardDone) },
    "step.done": { actions: react(R.onStepDone) },
    "partitions.sent": { actions: react(R.onPartitionsSent) },
    "weights.stored": { actions: react(R.onWeightsStored) },
    "open.requested": { actions: react(R.onOpenRequested) },
    "weights.opened": { actions: react(R.onWeightsOpened) },
    removed: { target: ".gone" },
    leave: { target: ".gone", actions: react(R.onLeave) },
  },
  states: {
    joining: {
      on: { "stage.assigned": { target: "loading", actions: react(R.onStageAssigned) } },
    },
    loading: {
      on: {
        "weights.loaded": { target: "training", actions: react(R.onWeightsLoaded) },
        "work.arrived": { actions: react((c, e: Ev<"work.arrived">) => R.hold(c, e.work)) },
        "merge.completed": {}, // the joiner's weights already predate it; it adopts the next merge
      },
    },
    training: {
      on: {
        "work.arrived": { actions: react((c, e: Ev<"work.arrived">) => R.onWork(c, e.work)) },
        "merge.started": { target: "merging", actions: react(R.onMergeStarted) },
      },
    },
    merging: {
      initial: "exchanging",
      on: {
        "work.arrived": [
          { guard: "overlaps", actions: react((c, e: Ev<"work.arrived">) => R.onWork(c, e.work)) },
          { actions: react((c, e: Ev<"work.arrived">) => R.hold(c, e.work)) },
        ],
      },
      states: {
        exchanging: {
          on: { "merge.completed": { guard: "isCurrentMerge", target: "loading", actions: react(R.onMergeCompleted) } },
        },
        loading: {
          on: {
            "merge.started": { actions: react(R.deferMerge) },
            "weights.loaded": [
              {
                guard: "hasNextMerge", target: "exchanging",
                actions: [react(R.onWeightsLoaded), react((c) => R.resume(c)), react((c) => R.startNextMerge(c))],
              },
              { target: "#stageWorker.training", actions: [react(R.onWeightsLoaded), react((c) => R.resume(c))] },
            ],
          },
        },
      },
    },
    gone: { type: "final" },
  },
});

export type WorkerMachine = typeof workerMachine;

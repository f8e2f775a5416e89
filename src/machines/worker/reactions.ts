// The worker's decisions as pure functions: (context, event) -> (context, effects). The XState
// machine (machine.ts) says WHEN each applies; these say WHAT the miner does, so they are
// testable without an actor and identical in every host.
import { produce } from "immer";
import { type SwarmEventType, type SwarmPayloads, swarmVersion } from "../../events/swarm/index.js";
import { stageMiners } from "../orchestrator/index.js";
import { globalStep, localStepLr, lrScheduleOf, MAX_DEFERRED, pickPeer, rngFor } from "../protocol/index.js";
import type { Effect, ReduceTask, Work, WorkerContext, WorkerDraft, WorkerEvent } from "./types.js";
import { snapshotCodecOf } from "./signals.js";

export interface Reaction {
  readonly context: WorkerContext;
  readonly effects: readonly Effect[];
}

type Ev<T extends WorkerEvent["type"]> = Extract<WorkerEvent, { type: T }>;

const none = (context: WorkerContext): Reaction => ({ context, effects: [] });

/** Appends one fact: a deterministic id per (run, miner, session, n) so a retried append deduplicates. */
const publish = <T extends SwarmEventType>(ctx: WorkerContext, type: T, payload: SwarmPayloads[T], cause: readonly string[]): Reaction => {
  const run = ctx.view.config?.run ?? "";
  const draft = { id: `${run}:${ctx.me}:${ctx.session}:${ctx.published + 1}`, type, v: swarmVersion(type), step: ctx.tick, cause, payload } as WorkerDraft;
  const context = produce(ctx, (d) => {
    d.published += 1;
    d.lastPublished = d.tick;
  });
  return { context, effects: [{ type: "publish", params: draft }] };
};

/** Chains reactions left to right. */
const then = (r: Reaction, f: (c: WorkerContext) => Reaction): Reaction => {
  const n = f(r.context);
  return { context: n.context, effects: [...r.effects, ...n.effects] };
};

const workKey = (w: Work): string => `${w.kind}|${w.lease}|${w.stage}`;

/**
 * Joins once the run's config is known; until its own MinerJoined comes back through the log the
 * worker acts on nothing, so a restarted miner replaying the log never obeys its past session.
 */
export const onJoin = (ctx: WorkerContext): Reaction => {
  const r = publish(ctx, "MinerJoined", { throughput: ctx.throughput }, []);
  const first = r.effects[0];
  return { context: produce(r.context, (d) => { d.joinId = first?.type === "publish" ? first.params.id : null; }), effects: r.effects };
};

export const onStageAssigned = (ctx: WorkerContext, e: Ev<"stage.assigned">): Reaction => ({
  context: produce(ctx, (d) => { d.stage = e.stage; d.accumulated = []; d.awaiting = []; }),
  effects: [{ type: "loadWeights", params: { stage: e.stage, ref: e.weights, epoch: e.epoch, ...optimizerOf(ctx, e.stage) } }],
});

/** The stage's freshest stored AdamW state, as the log names it, for a miner about to load the stage. */
const optimizerOf = (ctx: WorkerContext, stage: number): { optimizer?: string } => {
  const ref = ctx.view.stages[stage]?.optimizer;
  return ref === null || ref === undefined ? {} : { optimizer: ref };
};

export const onWeightsLoaded = (ctx0: WorkerContext, e: Ev<"weights.loaded">): Reaction => {
  // A joiner that took over the stage's AdamW state continues its step count (no second warmup).
  const ctx = e.optimizerSteps === undefined ? ctx0 : produce(ctx0, (d) => { d.optimizerSteps = e.optimizerSteps ?? d.optimizerSteps; });
  return publish(ctx, "WeightsLoaded", { stage: e.stage, epoch: e.epoch, ref: e.ref, ...(e.optimizer === undefined ? {} : { optimizer: e.optimizer }) }, []);
};

/** Requests compute for a unit of work, once (a redelivered fact asks for nothing). */
export const onWork = (ctx: WorkerContext, w: Work): Reaction => {
  const stages = ctx.view.stages.length;
  if (w.stage !== ctx.stage || ctx.done[workKey(w)] === true || ctx.view.leases[w.lease] === undefined) return none(ctx);
  const context = produce(ctx, (d) => {
    d.done[workKey(w)] = true;
    d.pending += 1;
    if (w.kind === "forward" && w.stage < stages - 1) d.awaiting.push(w.lease);
  });
  const effect: Effect = w.kind === "backward" ? { type: "backward", params: w } : w.stage === stages - 1 ? { type: "lastStage", params: w } : { type: "forward", params: w };
  return { context, effects: [effect] };
};

/** Holds work while the stage merges (unless merges overlap training). */
export const hold = (ctx: WorkerContext, w: Work): Reaction => none(produce(ctx, (d) => { d.held.push(w); }));

const finished = (ctx: WorkerContext): WorkerContext => produce(ctx, (d) => { d.pending = Math.max(0, d.pending - 1); });

/** Forward done: route to a next-stage peer by SWARM's stochastic wiring and forward the activations. */
export const onForwardDone = (ctx0: WorkerContext, e: Ev<"forward.done">): Reaction => {
  const ctx = finished(ctx0);
  const config = ctx.view.config;
  if (config === null || ctx.view.leases[e.lease] === undefined) return none(ctx);
  // Least-loaded routing counts a peer's queue from the log: the leases awaiting their backward there.
  const next = e.stage + 1;
  const leastLoaded = config.schedule.routing === "least-loaded";
  const awaiting = (id: string): number => Object.values(ctx.view.leases).filter((l) => l.pathway[next] === id && l.backward[next] === null).length;
  const route = stageMiners(ctx.view, next).map((m) => ({ miner: m.id, throughput: m.throughput, queue: leastLoaded ? awaiting(m.id) : m.queue }));
  const to = pickPeer(route, rngFor(config.seed, "route", e.lease, e.stage), config.schedule.routing);
  if (to === undefined) return none(ctx); // no live peer downstream: the lease will expire and be reissued
  return publish(ctx, "ActivationsForwarded", { lease: e.lease, stage: e.stage, to, ref: e.ref, bytes: e.bytes, route, weights: e.weights }, [e.lease]);
};

/** After a backward: gradients upstream (stage >= 1), the backward fact, and maybe an optimizer step. */
const afterBackward = (ctx: WorkerContext, lease: string, stage: number, ref: string, bytes: number): Reaction => {
  const upstream = ctx.view.leases[lease]?.pathway[stage - 1];
  let r: Reaction = none(ctx);
  if (stage > 0 && typeof upstream === "string") r = publish(ctx, "GradientsReturned", { lease, stage, to: upstream, ref, bytes }, [lease]);
  r = then(r, (c) => publish(c, "BackwardCompleted", { lease, stage }, [lease]));
  r = then(r, (c) => maybeStep(produce(c, (d) => {
    d.accumulated.push(lease);
    d.awaiting = d.awaiting.filter((l) => l !== lease);
  }), stage));
  return then(r, (c) => storeIfAlone(c, stage));
};

/**
 * The optimizer step, decided here (not in the host) so the log records what it covered: once
 * microbatchesPerStep backward passes are summed, over exactly those leases, at the schedule's
 * learning rate for the run's global step (completed microbatches / microbatchesPerStep) and this
 * miner's own step count. Deferred while a lease of ours awaits its backward (at most
 * MAX_DEFERRED microbatches), so that backward runs through the weights its forward used.
 */
const maybeStep = (c: WorkerContext, stage: number): Reaction => {
  const per = c.view.config?.schedule.microbatchesPerStep ?? 1;
  const schedule = lrScheduleOf(c.view.config);
  if (c.accumulated.length < per) return none(c);
  if (schedule?.deferWhileInFlight === true && c.awaiting.length > 0 && c.accumulated.length < MAX_DEFERRED) return none(c);
  const global = globalStep(c.view.counters.completed, per);
  const lr = schedule === undefined ? null : localStepLr(schedule, c.optimizerSteps, global);
  const leases = c.accumulated;
  const stepped = produce(c, (d) => {
    d.steps += 1;
    d.optimizerSteps += 1;
    d.accumulated = [];
  });
  return { context: stepped, effects: [{ type: "stepOptimizer", params: { stage, step: stepped.steps, leases, lr } }] };
};

/**
 * A stage served by one miner never merges, so the log would keep naming its initial weights:
 * every mergeEvery backward passes that miner stores its weights (WeightsLoaded at the stage's
 * epoch), which is what a joiner loads and what an orchestrator validates.
 */
const storeIfAlone = (ctx: WorkerContext, stage: number): Reaction => {
  const c = produce(ctx, (d) => { d.sinceStore += 1; });
  const every = c.view.config?.schedule.mergeEvery ?? Number.POSITIVE_INFINITY;
  if (c.sinceStore < every || stageMiners(c.view, stage).length !== 1) return none(c);
  return {
    context: produce(c, (d) => { d.sinceStore = 0; }),
    effects: [{ type: "storeWeights", params: { stage, epoch: c.view.stages[stage]?.epoch ?? 0 } }],
  };
};

export const onWeightsStored = (ctx: WorkerContext, e: Ev<"weights.stored">): Reaction =>
  publish(ctx, "WeightsLoaded", { stage: e.stage, epoch: e.epoch, ref: e.ref }, []);

export const onLossDone = (ctx0: WorkerContext, e: Ev<"loss.done">): Reaction => {
  const ctx = finished(ctx0);
  return then(publish(ctx, "LossComputed", { lease: e.lease, loss: e.loss, tokens: e.tokens, weights: e.weights }, [e.lease]), (c) => afterBackward(c, e.lease, e.stage, e.ref, e.bytes));
};

export const onBackwardDone = (ctx0: WorkerContext, e: Ev<"backward.done">): Reaction =>
  afterBackward(finished(ctx0), e.lease, e.stage, e.ref, e.bytes);

export const onStepDone = (ctx: WorkerContext, e: Ev<"step.done">): Reaction =>
  ctx.stage === null ? none(ctx) : publish(ctx, "OptimizerStepped", { stage: ctx.stage, step: e.step, microbatches: e.leases.length, leases: e.leases, lr: e.lr }, []);

/** A spot check names this miner's work: open (upload) the weights version it ran with, once per check. */
export const onOpenRequested = (ctx: WorkerContext, e: Ev<"open.requested">): Reaction => {
  const key = `open:${e.check}`;
  if (ctx.done[key] === true) return none(ctx);
  return { context: produce(ctx, (d) => { d.done[key] = true; }), effects: [{ type: "openWeights", params: { weights: e.weights, check: e.check } }] };
};

/**
 * The version is stored: say so (caused by the draw; `check` is "drawId#index"), so the validator
 * re-runs the work. A version no longer kept records nothing: the check fails at its deadline.
 */
export const onWeightsOpened = (ctx: WorkerContext, e: Ev<"weights.opened">): Reaction =>
  e.ok ? publish(ctx, "WeightsOpened", { weights: e.weights, check: e.check }, [e.check.slice(0, e.check.lastIndexOf("#"))]) : none(ctx);

export const onMergeStarted = (ctx: WorkerContext, e: Ev<"merge.started">): Reaction => {
  const context = produce(ctx, (d) => { d.merge = e.merge; });
  // A non-participant (nothing trained since the last merge) of an overlapped merge still keeps
  // what it learns meanwhile: its weights now are the base it adopts the result from.
  if (!e.participant && ctx.stage !== null && overlapsMerges(ctx)) return { context, effects: [{ type: "snapshotWeights", params: { merge: e.merge } }] };
  if (!e.participant || ctx.stage === null || ctx.done[`send:${e.merge}`] === true) return none(context);
  return {
    context: produce(context, (d) => { d.done[`send:${e.merge}`] = true; }),
    effects: [{ type: "sendPartitions", params: { merge: e.merge, stage: ctx.stage, partitions: e.partitions, reducers: e.reducers, ...snapshotCodecOf(ctx.view) } }],
  };
};

/** A merge that started while the previous one's result is loading waits for the load (startNextMerge). */
export const deferMerge = (ctx: WorkerContext, e: Ev<"merge.started">): Reaction => none({ ...ctx, nextMerge: e });

/** Starts the merge deferred while loading (as if it started now). */
export const startNextMerge = (ctx: WorkerContext): Reaction =>
  ctx.nextMerge === null ? none(ctx) : onMergeStarted({ ...ctx, nextMerge: null }, ctx.nextMerge);

export const onPartitionsSent = (ctx: WorkerContext, e: Ev<"partitions.sent">): Reaction =>
  publish(ctx, "PartitionsSent", { merge: e.merge, refs: e.refs, bytes: e.bytes }, [e.merge]);

export const onReduceRequested = (ctx: WorkerContext, task: ReduceTask): Reaction => {
  const key = `reduce:${task.merge}:${task.partition}`;
  if (ctx.done[key] === true) return none(ctx);
  return { context: produce(ctx, (d) => { d.done[key] = true; d.pending += 1; }), effects: [{ type: "reduce", params: task }] };
};

export const onReduceDone = (ctx: WorkerContext, e: Ev<"reduce.done">): Reaction =>
  publish(finished(ctx), "PartitionReduced", { merge: e.merge, partition: e.partition, hash: e.hash }, [e.merge]);

export const onMergeCompleted = (ctx: WorkerContext, e: Ev<"merge.completed">): Reaction =>
  ctx.stage === null
    ? none(ctx)
    : {
        context: ctx,
        effects: [{
          type: "applyMerge",
          params: {
            merge: e.merge, stage: ctx.stage, epoch: e.epoch, results: e.results, outer: ctx.view.config?.outer !== undefined, overlap: overlapsMerges(ctx),
            storeOptimizer: keepsOptimizer(ctx, ctx.stage, e.epoch),
          },
        }],
      };

/** After a stage's first merge and every this many merges after it, one of its miners stores its AdamW state with its weights (for joiners). */
export const OPTIMIZER_EVERY = 4;

/**
 * Whether this miner stores its AdamW state with the weights of `epoch` of `stage`: at epochs 1,
 * 1 + OPTIMIZER_EVERY, ..., and only the stage's active miner with the lowest id, so a stage's
 * moments cost one upload per OPTIMIZER_EVERY merges (they are twice the weights' size).
 */
const keepsOptimizer = (ctx: WorkerContext, stage: number, epoch: number): boolean =>
  epoch >= 1 && (epoch - 1) % OPTIMIZER_EVERY === 0 && stageMiners(ctx.view, stage)[0]?.id === ctx.me;

/** Training goes on while the stage merges (Schedule.overlapMerges). */
export const overlapsMerges = (ctx: WorkerContext): boolean => ctx.view.config?.schedule.overlapMerges === true;

/** Back to training: the merge is over and the held work is requested in arrival order. */
export const resume = (ctx: WorkerContext): Reaction => {
  const cleared = produce(ctx, (d) => {
    d.merge = null;
    d.held = [];
    for (const k of Object.keys(d.done)) if (k.startsWith("send:") || k.startsWith("reduce:")) delete d.done[k];
  });
  return ctx.held.reduce<Reaction>((r, w) => then(r, (c) => onWork(c, w)), none(cleared));
};

/** A heartbeat when this miner has been silent for heartbeatEveryTicks. */
export const onTick = (ctx: WorkerContext, e: Ev<"clock.ticked">): Reaction => {
  const c = produce(ctx, (d) => { d.tick = e.tick; });
  const every = c.view.config?.schedule.heartbeatEveryTicks ?? Number.POSITIVE_INFINITY;
  return c.tick - c.lastPublished >= every ? publish(c, "HeartbeatSent", { queue: c.pending + c.held.length, throughput: c.throughput }, []) : none(c);
};

export const onLeaseClosed = (ctx: WorkerContext, e: Ev<"lease.closed">): Reaction => {
  const keys = Object.keys(ctx.done).filter((k) => k.split("|")[1] === e.lease);
  if (keys.length === 0 && !ctx.held.some((w) => w.lease === e.lease) && !ctx.awaiting.includes(e.lease)) return none(ctx);
  return none(produce(ctx, (d) => {
    for (const k of keys) delete d.done[k];
    d.held = d.held.filter((w) => w.lease !== e.lease);
    d.awaiting = d.awaiting.filter((l) => l !== e.lease);
  }));
};

export const onLeave = (ctx: WorkerContext, e: Ev<"leave">): Reaction => publish(ctx, "MinerLeft", { reason: e.reason }, []);

// The run's learning-rate schedule, read from its config: the rate of a miner's local optimizer
// step (decided by the worker from the config and its own progress, and recorded in
// OptimizerStepped v2, so a validator re-running the step and an auditor read it from the log
// instead of trusting the host), and the merge interval it stretches (the orchestrator's rule).
import type { Schedule, SwarmRunConfig } from "../../events/swarm/index.js";

/**
 * The schedule fields of a swarm run's model (SwarmRunStarted.model.optim, opaque to the protocol;
 * actors/swarm/model.ts validates the whole model). Warmup then cosine, as the trainer's lrAt
 * (kernels/train/options.ts; a test pins the two to the same numbers).
 */
export interface LrSchedule {
  readonly lr: number;
  readonly warmup: number;
  readonly minLrRatio: number;
  readonly steps: number;
  /** Warm up over the miner's own steps too: with K miners per stage, a global warmup is K times too short for each. */
  readonly localWarmup: boolean;
  /** Defer a step while one of the miner's leases awaits its backward (no stale gradient on newer weights). */
  readonly deferWhileInFlight: boolean;
}

const num = (o: Record<string, unknown>, k: string): number | undefined => (typeof o[k] === "number" ? (o[k] as number) : undefined);

/** The run's schedule, or undefined when its model names none (a fake-compute simulation): steps then record no lr. */
export const lrScheduleOf = (config: SwarmRunConfig | null): LrSchedule | undefined => {
  const model = config?.model;
  const optim = typeof model === "object" && model !== null ? (model as Record<string, unknown>)["optim"] : undefined;
  if (typeof optim !== "object" || optim === null) return undefined;
  const o = optim as Record<string, unknown>;
  const lr = num(o, "lr"), warmup = num(o, "warmup"), minLrRatio = num(o, "minLrRatio"), steps = num(o, "steps");
  if (lr === undefined || warmup === undefined || minLrRatio === undefined || steps === undefined) return undefined;
  return { lr, warmup, minLrRatio, steps, localWarmup: o["localWarmup"] === true, deferWhileInFlight: o["deferWhileInFlight"] === true };
};

/** The run's global optimizer step: its completed microbatches over microbatchesPerStep (what a step's lr and the merge interval are read at). */
export const globalStep = (completed: number, microbatchesPerStep: number): number => Math.floor(completed / microbatchesPerStep);

/** Learning rate at global step `t` (0-based): linear warmup, then cosine to lr·minLrRatio. */
export const scheduledLr = (s: LrSchedule, t0: number): number => {
  const t = Math.max(0, t0);
  if (t < s.warmup) return (s.lr * (t + 1)) / s.warmup;
  const span = Math.max(1, s.steps - s.warmup);
  const progress = Math.min(1, (t - s.warmup) / span);
  return s.lr * (s.minLrRatio + (1 - s.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
};

/**
 * A miner's step: the schedule at global step `global` (the run's completed microbatches over
 * microbatchesPerStep), warmed up over its own `local` steps when localWarmup is on.
 */
export const localStepLr = (s: LrSchedule, local: number, global: number): number => {
  const g = scheduledLr(s, global);
  return s.localWarmup && local < s.warmup ? Math.min(scheduledLr(s, local), g) : g;
};

/** Microbatches a deferred step may accumulate before it is taken anyway (bounds staleness when a miner is never drained). */
export const MAX_DEFERRED = 4;

/** How far "lr-scaled" stretches the merge interval at most: mergeEvery times this. */
export const MAX_MERGE_STRETCH = 4;

/**
 * Backward passes a stage trains between merges at the run's global step `step`. "fixed": the
 * schedule's mergeEvery. "lr-scaled": mergeEvery at the peak rate, stretched by peak ÷ the rate
 * at `step`, up to MAX_MERGE_STRETCH times. Why: an AdamW step moves each weight by about the
 * learning rate, so replicas drift apart in proportion to the sum of the rates since their last
 * merge; at a tenth of the peak rate ten times the passes drift as far as mergeEvery at the peak.
 * Longer local periods at lower rates are the same trade as AdaComm's (Wang & Joshi 2019: the
 * period grows as the rate decays) and post-local SGD's (Lin et al. 2020: local steps after the
 * first decay). The cap bounds how stale a joiner's weights and a stage's consensus can get.
 * A run without a schedule in its model (a fake-compute simulation) merges every mergeEvery.
 */
export const mergeInterval = (s: Pick<Schedule, "mergeEvery" | "mergeInterval">, lr: LrSchedule | undefined, step: number): number => {
  if (s.mergeInterval !== "lr-scaled" || lr === undefined) return s.mergeEvery;
  const ratio = scheduledLr(lr, step) / lr.lr;
  return ratio > 0 ? Math.min(s.mergeEvery * MAX_MERGE_STRETCH, s.mergeEvery / ratio) : s.mergeEvery * MAX_MERGE_STRETCH;
};

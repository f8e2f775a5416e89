// Building a swarm run's SwarmRunStarted config from user-level settings: the model, the optimizer,
// the schedule constants (in ticks and counts), and the seeded initial weights of every stage,
// stored as content-addressed blobs whose refs the config carries.
import type { MergeInterval, OuterStep, Schedule, SwarmRunConfig } from "../../events/swarm/index.js";
import type { Routing, SnapshotCodec } from "../../machines/protocol/index.js";
import type { WireDtype } from "../../kernels/codec/format.js";
import { DEFAULT_CONFIG, type GptConfig, validateConfig } from "../../kernels/model/config.js";
import { DEFAULT_TRAIN } from "../../kernels/train/options.js";
import { type BlobStore, f32ToBytes } from "./blob-store.js";
import { initialStageWeights, stageLayout, type SwarmModel } from "./model.js";

/** What a user picks; everything else has a default. */
export interface SwarmSettings {
  readonly seed: number;
  /** Total microbatches (each one dataset batch of batch × seq tokens). */
  readonly microbatches: number;
  readonly gpt?: Partial<GptConfig>;
  readonly quant?: WireDtype;
  readonly lr?: number;
  readonly warmup?: number;
  readonly clipNorm?: number;
  readonly weightDecay?: number;
  /** Synchronous schedule: one lease in flight, one optimizer step per microbatch, no merges. */
  readonly sync?: boolean;
  readonly maxInFlight?: number;
  readonly mergeEvery?: number;
  /** How the merge interval is counted (default "lr-scaled"; see Schedule.mergeInterval). */
  readonly mergeInterval?: MergeInterval;
  readonly partitions?: number;
  readonly microbatchesPerStep?: number;
  readonly leaseTicks?: number;
  readonly heartbeatTimeoutTicks?: number;
  /** Merge with DiLoCo's outer Nesterov step (e.g. { lr: 0.7, momentum: 0.9 }); default plain averaging. */
  readonly outer?: OuterStep;
  /** Warm up over each miner's own optimizer steps (default true; see localStepLr). */
  readonly localWarmup?: boolean;
  /** Defer a miner's step while its leases await backwards (default true; see MinerCompute.step). */
  readonly deferWhileInFlight?: boolean;
  /** How a lease's next miner is chosen (default "least-loaded"; see Schedule.routing). */
  readonly routing?: Routing;
  /** Keep training while a stage merges (default true; see Schedule.overlapMerges). */
  readonly overlapMerges?: boolean;
  /** How merge snapshots are encoded (default "bf16"; see Schedule.snapshotCodec). */
  readonly snapshotCodec?: SnapshotCodec;
}

/** Backward passes per stage between merges when not given (measured: see scheduleOf). */
export const DEFAULT_MERGE_EVERY = 6;
/** How the interval is counted when not given: stretched as the learning rate decays (see scheduleOf). */
export const DEFAULT_MERGE_INTERVAL: MergeInterval = "lr-scaled";

/** How merge snapshots are encoded when not given: bfloat16 (see scheduleOf). */
export const DEFAULT_SNAPSHOT_CODEC = "bf16" as const;

/** The model a set of settings describes. */
export const swarmModelOf = (s: SwarmSettings): SwarmModel => {
  const gpt = validateConfig({ ...DEFAULT_CONFIG, seed: s.seed, ...s.gpt });
  const per = s.sync === true ? 1 : Math.max(1, s.microbatchesPerStep ?? 1);
  return {
    gpt,
    quant: s.quant ?? "fp32",
    optim: {
      lr: s.lr ?? DEFAULT_TRAIN.lr,
      warmup: s.warmup ?? DEFAULT_TRAIN.warmup,
      minLrRatio: DEFAULT_TRAIN.minLrRatio,
      weightDecay: s.weightDecay ?? DEFAULT_TRAIN.weightDecay,
      clipNorm: s.clipNorm ?? DEFAULT_TRAIN.clipNorm,
      dataSeed: s.seed,
      steps: Math.max(1, Math.ceil(s.microbatches / per)),
      localWarmup: s.localWarmup ?? true,
      deferWhileInFlight: s.deferWhileInFlight ?? true,
    },
  };
};

/** Schedule constants for the settings (ticks assume a ~100 ms clock). */
export const scheduleOf = (s: SwarmSettings, model: SwarmModel): Schedule => {
  const sync = s.sync === true;
  return {
    totalMicrobatches: s.microbatches,
    // Each pass over this many batch ids is a fresh seeded permutation (protocol batchFor).
    datasetBatches: 1 << 20,
    tokensPerMicrobatch: model.gpt.batch * model.gpt.seq,
    maxInFlight: sync ? 1 : Math.max(1, s.maxInFlight ?? model.gpt.stages),
    leaseTicks: s.leaseTicks ?? 600,
    heartbeatTimeoutTicks: s.heartbeatTimeoutTicks ?? 50,
    heartbeatEveryTicks: 5,
    // 6 over 12 and 24: with 8 miners on 3 stages, least-loaded routing and merges overlapping
    // training, 300 microbatches end at 3.541/3.516/3.533 bpb (seeds 1-3, --deterministic) vs
    // 3.636/3.552/3.563 at 12 (3.916 at 24, seed 1), at ~10-20% fewer tokens/s (BENCHMARKS.md, swarm).
    mergeEvery: sync ? Number.MAX_SAFE_INTEGER : Math.max(1, s.mergeEvery ?? DEFAULT_MERGE_EVERY),
    // Stretched as the learning rate decays: about half the merges of a fixed 6 at equal tokens,
    // 3.617/3.508/3.566 bpb (seeds 1-3, median 1.023 of the same model) at ~15% more tokens/s.
    mergeInterval: sync ? "fixed" : (s.mergeInterval ?? DEFAULT_MERGE_INTERVAL),
    bMin: 1,
    partitions: Math.max(1, s.partitions ?? 8),
    mergeGatherTicks: 50,
    mergeDeadlineTicks: 200,
    microbatchesPerStep: sync ? 1 : Math.max(1, s.microbatchesPerStep ?? 1),
    overlapMerges: !sync && s.overlapMerges !== false,
    // Least-loaded over proportional: with 8 miners on 3 stages (300 microbatches, --deterministic)
    // seeds 1-3 ended at 3.600/3.516/3.530 vs 3.613/3.601/3.573 bpb (BENCHMARKS.md, swarm).
    routing: s.routing ?? "least-loaded",
    // bfloat16 snapshots: a participant sends N(1 + 1/M) bytes per merge instead of 2N (M
    // participants); exact convergence seeds 1-3 at 3.630/3.504/3.552 against 3.617/3.508/3.566
    // with float32 (BENCHMARKS.md, swarm).
    snapshotCodec: s.snapshotCodec ?? DEFAULT_SNAPSHOT_CODEC,
  };
};

/** Stores every stage's initial weights and returns the run's config. */
export const buildRunConfig = async (o: { readonly run: string; readonly orchestrator: string; readonly settings: SwarmSettings; readonly blobs: BlobStore }): Promise<SwarmRunConfig> => {
  const model = swarmModelOf(o.settings);
  const stages = await Promise.all(
    Array.from({ length: model.gpt.stages }, async (_, s) => ({
      params: stageLayout(model.gpt, s).size,
      weights: await o.blobs.put(f32ToBytes(initialStageWeights(model.gpt, s))),
    })),
  );
  const outer = o.settings.sync === true ? undefined : o.settings.outer;
  return { run: o.run, orchestrator: o.orchestrator, seed: String(o.settings.seed), model, stages, schedule: scheduleOf(o.settings, model), ...(outer === undefined ? {} : { outer }) };
};

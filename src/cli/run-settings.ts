// A run's settings for `swarmline orchestrate`: defaults, then a run.json file, then explicit flags
// (the file holds the same settings as the flags, camelCased), validated into SwarmSettings with
// errors that name the bad setting and say how to fix it.
import { readFileSync } from "node:fs";
import { Schema } from "effect";
import { DEFAULT_MERGE_EVERY, DEFAULT_MERGE_INTERVAL, DEFAULT_SNAPSHOT_CODEC, type SwarmSettings } from "../actors/swarm/run-config.js";
import { isToken } from "../events/subjects.js";
import { MergeInterval, SnapshotCodec } from "../events/swarm/run.js";
import { DEFAULT_CONFIG, validateConfig } from "../kernels/model/config.js";
import { DEFAULT_TRAIN } from "../kernels/train/options.js";

/** --merge-interval's choices. */
export const MERGE_INTERVALS: readonly MergeInterval[] = MergeInterval.literals;
/** --snapshot-codec's choices. */
export const SNAPSHOT_CODECS: readonly (typeof SnapshotCodec.Type)[] = SnapshotCodec.literals;

/** A flag or setting the user gave has a bad value (exit code 2). */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { message: Schema.String }) {}

/** The run file cannot be read, is not JSON, or holds an unknown or ill-typed setting (exit code 2). */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", { file: Schema.String, message: Schema.String }) {}

const Int = Schema.Int;
const Num = Schema.Number;

/** What a run.json may hold; every key is optional and mirrors a flag. */
export const RunFile = Schema.Struct({
  seed: Schema.optionalKey(Int),
  steps: Schema.optionalKey(Int),
  stages: Schema.optionalKey(Int),
  layers: Schema.optionalKey(Int),
  dModel: Schema.optionalKey(Int),
  heads: Schema.optionalKey(Int),
  seq: Schema.optionalKey(Int),
  batch: Schema.optionalKey(Int),
  bottleneck: Schema.optionalKey(Schema.NullOr(Int)),
  quant: Schema.optionalKey(Schema.Literals(["fp32", "fp16", "int8"])),
  lr: Schema.optionalKey(Num),
  warmup: Schema.optionalKey(Int),
  mergeEvery: Schema.optionalKey(Int),
  mergeInterval: Schema.optionalKey(MergeInterval),
  snapshotCodec: Schema.optionalKey(SnapshotCodec),
  partitions: Schema.optionalKey(Int),
  inFlight: Schema.optionalKey(Int),
  microbatchesPerStep: Schema.optionalKey(Int),
  leaseTicks: Schema.optionalKey(Int),
  heartbeatTimeoutTicks: Schema.optionalKey(Int),
  sync: Schema.optionalKey(Schema.Boolean),
  pauseMerges: Schema.optionalKey(Schema.Boolean),
  /** DiLoCo's outer Nesterov step: giving either turns it on (defaults lr 0.7, momentum 0.9). */
  outerLr: Schema.optionalKey(Num),
  outerMomentum: Schema.optionalKey(Num),
});
export type RunFile = typeof RunFile.Type;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The settings a run uses when neither the file nor a flag names them (sim's defaults). */
export const RUN_DEFAULTS: Required<Omit<RunFile, "inFlight" | "outerLr" | "outerMomentum">> = {
  seed: 1, steps: 120, stages: 3, layers: DEFAULT_CONFIG.nLayer, dModel: DEFAULT_CONFIG.dModel, heads: DEFAULT_CONFIG.nHead,
  seq: DEFAULT_CONFIG.seq, batch: DEFAULT_CONFIG.batch, bottleneck: 3, quant: "int8", lr: DEFAULT_TRAIN.lr, warmup: DEFAULT_TRAIN.warmup,
  mergeEvery: DEFAULT_MERGE_EVERY, mergeInterval: DEFAULT_MERGE_INTERVAL, snapshotCodec: DEFAULT_SNAPSHOT_CODEC, partitions: 8, microbatchesPerStep: 1, leaseTicks: 600, heartbeatTimeoutTicks: 50, sync: false,
  pauseMerges: false,
};

/** Reads and validates a run file. */
export const readRunFile = (file: string): RunFile => {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError({ file, message: `cannot read ${file}: ${e instanceof Error ? e.message : String(e)} (check the --config path)` });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError({ file, message: `${file} is not JSON: ${e instanceof Error ? e.message : String(e)}` });
  }
  const r = Schema.decodeUnknownResult(RunFile)(json, { onExcessProperty: "error" });
  if (r._tag === "Failure") {
    throw new ConfigError({ file, message: `${file} is not a run file: ${r.failure.message}\n  allowed keys: ${Object.keys(RunFile.fields).join(", ")}` });
  }
  return r.success;
};

const INT_FLAGS = ["seed", "steps", "stages", "layers", "dModel", "heads", "seq", "batch", "warmup", "mergeEvery", "partitions", "inFlight", "microbatchesPerStep", "leaseTicks", "heartbeatTimeoutTicks"] as const;
const MIN: Partial<Record<(typeof INT_FLAGS)[number], number>> = { seed: 0, warmup: 0 };

const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Explicit flags (strings as commander gives them) as run-file settings, each checked. */
export const flagSettings = (f: Readonly<Record<string, unknown>>): RunFile => {
  const out: Mutable<RunFile> = {};
  for (const k of INT_FLAGS) {
    const v = f[k];
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isInteger(n)) throw new UsageError({ message: `--${kebab(k)} must be an integer, got "${String(v)}"` });
    out[k] = n;
  }
  if (f["bottleneck"] !== undefined) {
    const v = String(f["bottleneck"]);
    const n = Number(v);
    if (v !== "none" && !Number.isInteger(n)) throw new UsageError({ message: `--bottleneck must be an integer or "none", got "${v}"` });
    out.bottleneck = v === "none" ? null : n;
  }
  if (f["quant"] !== undefined) out.quant = f["quant"] as RunFile["quant"];
  if (f["mergeInterval"] !== undefined) out.mergeInterval = f["mergeInterval"] as RunFile["mergeInterval"];
  if (f["snapshotCodec"] !== undefined) out.snapshotCodec = f["snapshotCodec"] as RunFile["snapshotCodec"];
  if (f["lr"] !== undefined) out.lr = Number(f["lr"]);
  if (f["sync"] === true) out.sync = true;
  if (f["pauseMerges"] === true) out.pauseMerges = true;
  for (const k of ["outerLr", "outerMomentum"] as const) {
    const v = f[k];
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new UsageError({ message: `--${kebab(k)} must be a number, got "${String(v)}"` });
    out[k] = n;
  }
  return out;
};

/** The outer step the settings name (either key turns it on); checked. Shared by sim and orchestrate. */
export const outerOf = (s: Pick<RunFile, "outerLr" | "outerMomentum">): { lr: number; momentum: number } | undefined => {
  if (s.outerLr === undefined && s.outerMomentum === undefined) return undefined;
  const lr = s.outerLr ?? 0.7;
  const momentum = s.outerMomentum ?? 0.9;
  if (!(lr > 0 && Number.isFinite(lr))) throw new UsageError({ message: `outer-lr must be > 0, got ${lr}` });
  if (!(momentum >= 0 && momentum < 1)) throw new UsageError({ message: `outer-momentum must be in [0, 1), got ${momentum}` });
  return { lr, momentum };
};

/** Merges defaults, the file and the flags into SwarmSettings; throws UsageError on bad values. */
export const settingsOf = (file: RunFile, flags: RunFile): SwarmSettings => {
  const s = { ...RUN_DEFAULTS, ...file, ...flags };
  for (const k of INT_FLAGS) {
    const v = s[k];
    const min = MIN[k] ?? 1;
    if (v !== undefined && v < min) throw new UsageError({ message: `${kebab(k)} must be >= ${min}, got ${v}` });
  }
  if (!(s.lr > 0 && Number.isFinite(s.lr))) throw new UsageError({ message: `lr must be a number > 0, got ${String(s.lr)}` });
  const sync = s.sync;
  const stages = s.stages;
  const outer = outerOf(s);
  const gpt = {
    stages, batch: s.batch, seq: s.seq, dModel: s.dModel, nLayer: s.layers, nHead: s.heads, seed: s.seed,
    bottleneck: stages > 1 && !sync ? s.bottleneck : null,
  };
  try {
    validateConfig({ ...DEFAULT_CONFIG, ...gpt });
  } catch (e) {
    throw new UsageError({ message: `bad model shape: ${e instanceof Error ? e.message : String(e)}` });
  }
  return {
    seed: s.seed, microbatches: s.steps, gpt, quant: sync ? "fp32" : s.quant, lr: s.lr, warmup: s.warmup, sync,
    mergeEvery: s.mergeEvery, mergeInterval: s.mergeInterval, snapshotCodec: s.snapshotCodec, partitions: s.partitions, microbatchesPerStep: s.microbatchesPerStep, leaseTicks: s.leaseTicks,
    heartbeatTimeoutTicks: s.heartbeatTimeoutTicks, ...(s.inFlight === undefined ? {} : { maxInFlight: s.inFlight }),
    overlapMerges: !s.pauseMerges,
    ...(outer === undefined ? {} : { outer }),
  };
};

/** Checks a run id (it becomes part of subjects, stream and bucket names). */
export const checkRunId = (run: string): string => {
  if (!isToken(run)) throw new UsageError({ message: `--run must be 1-64 characters of A-Z a-z 0-9 _ -, got "${run}"` });
  return run;
};

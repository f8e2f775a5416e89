// `swarmline train`: trains the whole GPT in one process (the monolithic baseline, or all stages
// chained through the wire codec with --stages > 1), with a progress bar, checkpoint/resume,
// inference ONNX export and a --json summary.
import { readFileSync, writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { SingleBar } from "cli-progress";
import type { WireDtype } from "../kernels/codec/format.js";
import { sotuCorpus } from "../kernels/data/corpus.js";
import { decodeCheckpoint, encodeCheckpoint } from "../kernels/train/checkpoint.js";
import { exportInference } from "../kernels/train/export.js";
import { validateConfig } from "../kernels/model/config.js";
import { DEFAULT_TRAIN, type TrainOptions } from "../kernels/train/options.js";
import { poolRun } from "../kernels/train/pool-run.js";
import { train, type StepEvent } from "../kernels/train/trainer.js";
import { setExit } from "./exit.js";
import { UsageError } from "./run-settings.js";

type Flags = {
  steps: string; batch: string; seq: string; dModel: string; layers: string; heads: string; lr: string; seed: string;
  evalEvery: string; threads: string; bottleneck?: string; quant: WireDtype; stages: string;
  checkpoint?: string; resume?: string; exportOnnx?: string; json?: string;
};

const int = (name: string, v: string, min = 1): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError({ message: `--${name} must be an integer >= ${min}, got "${v}"` });
  return n;
};

/** TrainOptions from the flags (defaults are DEFAULT_TRAIN's); throws UsageError on a bad value or shape. */
export const optionsFromFlags = (f: Flags): TrainOptions => {
  const lr = Number(f.lr);
  if (!(lr > 0)) throw new UsageError({ message: `--lr must be > 0, got "${f.lr}"` });
  const stages = int("stages", f.stages);
  // Without stage boundaries there is nothing to compress: refuse rather than silently ignore it.
  if (f.bottleneck !== undefined && stages < 2) throw new UsageError({ message: `--bottleneck needs --stages >= 2 (got --stages ${stages}): add --stages 2 or drop --bottleneck` });
  const o: TrainOptions = {
    ...DEFAULT_TRAIN,
    steps: int("steps", f.steps),
    lr,
    dataSeed: int("seed", f.seed, 0),
    evalEvery: int("eval-every", f.evalEvery),
    threads: int("threads", f.threads),
    quant: f.quant,
    model: {
      ...DEFAULT_TRAIN.model,
      batch: int("batch", f.batch),
      seq: int("seq", f.seq),
      dModel: int("d-model", f.dModel),
      nLayer: int("layers", f.layers),
      nHead: int("heads", f.heads),
      stages,
      bottleneck: f.bottleneck === undefined ? null : int("bottleneck", f.bottleneck),
      seed: int("seed", f.seed, 0),
    },
  };
  try {
    validateConfig(o.model);
  } catch (e) {
    throw new UsageError({ message: `bad model shape: ${e instanceof Error ? e.message : String(e)} (fix --d-model, --heads, --layers, --stages or --bottleneck)` });
  }
  return o;
};

const readResume = (file: string): Buffer => {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError({ message: `cannot read checkpoint ${file}: ${e instanceof Error ? e.message : String(e)} (check the --resume path)` });
  }
};

const fmt = (x: number | undefined, d = 3): string => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));

export const registerTrain = (program: Command): void => {
  const d = DEFAULT_TRAIN;
  program
    .command("train")
    .description("Train the whole GPT on the State of the Union corpus in one process (the monolithic baseline)")
    .option("--steps <n>", "optimizer steps", String(d.steps))
    .option("--batch <n>", "sequences per step", String(d.model.batch))
    .option("--seq <n>", "context length in bytes", String(d.model.seq))
    .option("--d-model <n>", "model width", String(d.model.dModel))
    .option("--layers <n>", "transformer blocks", String(d.model.nLayer))
    .option("--heads <n>", "attention heads", String(d.model.nHead))
    .option("--lr <x>", "peak AdamW learning rate (warmup, then cosine)", String(d.lr))
    .option("--seed <n>", "seed of parameter init and training batches", String(d.dataSeed))
    .option("--eval-every <n>", "validate every N steps", String(d.evalEvery))
    .option("--threads <n>", "ORT intra-op threads", String(d.threads))
    .option("--stages <n>", "split into N stages chained through the wire codec (1 = fused)", "1")
    .option("--bottleneck <b>", "IOTA bottleneck width at stage boundaries (needs --stages > 1)")
    .addOption(new Option("--quant <type>", "wire type of boundary tensors").choices(["fp32", "fp16", "int8"]).default("fp32"))
    .option("--checkpoint <file>", "write a checkpoint at the end")
    .option("--resume <file>", "continue from a checkpoint (same options)")
    .option("--export-onnx <file>", "write an inference model (ids -> logits, weights baked in)")
    .option("--json <file>", "write {steps, tokens, tokensPerSecond, valBpb, unigramBpb, lossCurve}")
    .action(async (f: Flags) => {
      const o = optionsFromFlags(f);
      const resume = f.resume === undefined ? undefined : decodeCheckpoint(readResume(f.resume));
      const tty = process.stderr.isTTY === true;
      const bar = tty ? new SingleBar({ format: "train {bar} {value}/{total} | loss {loss} | val bpb {bpb} | {tps} tok/s", hideCursor: true }) : undefined;
      bar?.start(o.steps, resume?.step ?? 0, { loss: "-", bpb: "-", tps: "-" });
      let lastBpb: number | undefined;
      const onStep = (e: StepEvent): void => {
        if (e.valBpb !== undefined) lastBpb = e.valBpb;
        if (bar !== undefined) bar.update(e.step, { loss: fmt(e.loss), bpb: fmt(lastBpb), tps: e.tokensPerSecond.toFixed(0) });
        else if (e.valBpb !== undefined || e.step === e.steps) {
          const comp = e.compression === undefined ? "" : ` compression ${e.compression.toFixed(1)}x`;
          process.stderr.write(`step ${e.step}/${e.steps} loss ${fmt(e.loss)} val_bpb ${fmt(lastBpb)} tok/s ${e.tokensPerSecond.toFixed(0)}${comp}\n`);
        }
      };
      const rt = await poolRun(o.threads);
      try {
        const corpus = sotuCorpus();
        const { result, params, checkpoint } = await train(o, corpus, rt.run, { onStep, ...(resume ? { resume } : {}) });
        bar?.stop();
        process.stdout.write(`steps ${result.steps} tokens ${result.tokens} tok/s ${result.tokensPerSecond.toFixed(0)} val_bpb ${result.valBpb.toFixed(4)} unigram_bpb ${result.unigramBpb.toFixed(4)}\n`);
        if (f.checkpoint !== undefined) writeFileSync(f.checkpoint, encodeCheckpoint(checkpoint));
        if (f.exportOnnx !== undefined) writeFileSync(f.exportOnnx, exportInference(o.model, params));
        if (f.json !== undefined) writeFileSync(f.json, `${JSON.stringify(result)}\n`);
        setExit(0);
      } finally {
        bar?.stop();
        await rt.release();
      }
    });
};

// `npm run bench -- kernels [--steps N] [--iters K] [--threads T]`: in one run, (a) a GPT stage's
// forward+backward GFLOP/s against a raw ORT MatMul at the same size, (b) validation bpb after
// the same tokens with a >= 128x compressed 2-stage pipeline against the uncompressed one (same
// seed), (c) the compression ratio and (d) codec throughput. Writes bench/results/kernels.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { compressionRatio } from "../src/kernels/codec/format.js";
import { decode, encode } from "../src/kernels/codec/wire.js";
import { sotuCorpus } from "../src/kernels/data/corpus.js";
import { DEFAULT_CONFIG, tokens, type GptConfig } from "../src/kernels/model/config.js";
import { localRun } from "../src/kernels/model/local-run.js";
import { initParams } from "../src/kernels/model/params.js";
import { paramFeeds } from "../src/kernels/model/runner.js";
import { buildStage } from "../src/kernels/model/stage.js";
import { matmulModel } from "../src/kernels/runtime/matmul-model.js";
import { KernelSession } from "../src/kernels/runtime/session.js";
import type { Tensor } from "../src/kernels/runtime/tensor.js";
import { filled, outputsOf } from "./tensors.js";
import { DEFAULT_TRAIN, type TrainOptions } from "../src/kernels/train/options.js";
import { train } from "../src/kernels/train/trainer.js";

const arg = (args: string[], name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
};

/** Stage size for the throughput ratio: d_model 512, 1024 tokens, the middle stage of 3 (2 blocks). */
const STAGE: GptConfig = { ...DEFAULT_CONFIG, dModel: 512, nHead: 8, nLayer: 6, stages: 3, batch: 8, seq: 128, bottleneck: null };

/** Compressed-vs-uncompressed pair: 2 stages of 1 block at d_model 256; b = 5 with int8 on the wire. */
const PAIR: GptConfig = { ...DEFAULT_CONFIG, dModel: 256, nHead: 4, nLayer: 2, stages: 2, batch: 16, seq: 64, bottleneck: null };
const BOTTLENECK = 5;



const timeIt = async (iters: number, f: () => Promise<unknown>): Promise<number> => {
  for (let i = 0; i < 3; i++) await f();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) await f();
  return (performance.now() - t0) / 1000 / iters;
};

const stageThroughput = async (iters: number, threads: number) => {
  const c = STAGE;
  const m = buildStage(c, 1);
  const params = initParams(c, m.params);
  const x: Tensor = { dims: m.input.shape, data: filled(m.input.shape, 1) };
  const gy: Tensor = { dims: m.output.shape, data: filled(m.output.shape, 2) };
  const fwd = await KernelSession.create(m.forward.bytes, { threads, provider: "cpu" });
  const bwd = await KernelSession.create(m.backward.bytes, { threads, provider: "cpu" });
  const feeds = { ...paramFeeds(m.params, params), [m.input.name]: x };
  const fwdOut = outputsOf(m.forward);
  const bwdOut = outputsOf(m.backward);
  const seconds = await timeIt(iters, async () => {
    const f = await fwd.run(feeds, undefined, fwdOut);
    const saved = Object.fromEntries(m.saved.map((s) => [s.name, f[s.name] as Tensor]));
    await bwd.run({ ...feeds, grad_y: gy, ...saved }, undefined, bwdOut);
  });
  await fwd.release();
  await bwd.release();
  const flops = m.forward.flops + m.backward.flops;
  // Raw MatMul at the stage's dominant shape: [N, d] x [d, 4d] (the MLP up-projection).
  const n = tokens(c);
  const mm = await KernelSession.create(matmulModel(n, c.dModel, 4 * c.dModel), { threads, provider: "cpu" });
  const a: Tensor = { dims: [n, c.dModel], data: filled([n, c.dModel], 3) };
  const b: Tensor = { dims: [c.dModel, 4 * c.dModel], data: filled([c.dModel, 4 * c.dModel], 4) };
  const y: Tensor = { dims: [n, 4 * c.dModel], data: new Float32Array(n * 4 * c.dModel) };
  const mmSeconds = await timeIt(iters * 4, () => mm.run({ A: a, B: b }, ["Y"], { Y: y }));
  await mm.release();
  return { stageGflops: flops / seconds / 1e9, matmulGflops: (2 * n * c.dModel * 4 * c.dModel) / mmSeconds / 1e9, stageFlops: flops, stageSeconds: seconds };
};

const codecThroughput = (): number => {
  const dims = [tokens(STAGE), STAGE.dModel];
  const x = { dims, data: filled(dims, 5) };
  const iters = 20;
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) decode(encode(x, "int8"));
  return (iters * 4 * x.data.length) / 1e6 / ((performance.now() - t0) / 1000);
};

const trainPair = async (steps: number, threads: number) => {
  const base: TrainOptions = { ...DEFAULT_TRAIN, model: PAIR, steps, evalEvery: steps, evalBatches: 8, threads, warmup: Math.min(20, steps) };
  const corpus = sotuCorpus();
  const rt = localRun(threads);
  try {
    const t0 = performance.now();
    const plain = await train({ ...base, quant: "fp32" }, corpus, rt.run);
    const t1 = performance.now();
    const compressed = await train({ ...base, quant: "int8", model: { ...PAIR, bottleneck: BOTTLENECK } }, corpus, rt.run);
    const t2 = performance.now();
    return { plain: plain.result, compressed: compressed.result, seconds: [(t1 - t0) / 1000, (t2 - t1) / 1000] };
  } finally {
    await rt.release();
  }
};

/** Runs the kernels benchmark and writes bench/results/kernels.json. */
export const run = async (args: string[]): Promise<void> => {
  const steps = arg(args, "steps", 200);
  const iters = arg(args, "iters", 10);
  const threads = arg(args, "threads", 2);
  const tp = await stageThroughput(iters, threads);
  process.stdout.write(`stage fwd+bwd (d=${STAGE.dModel}, ${tokens(STAGE)} tokens, 2 blocks): ${tp.stageGflops.toFixed(1)} GFLOP/s; MatMul [${tokens(STAGE)}x${STAGE.dModel}]x[${STAGE.dModel}x${4 * STAGE.dModel}]: ${tp.matmulGflops.toFixed(1)} GFLOP/s\n`);
  const codec = codecThroughput();
  process.stdout.write(`codec int8 encode+decode: ${codec.toFixed(0)} MB/s of fp32\n`);
  const n = tokens(PAIR);
  const ratio = compressionRatio([n, PAIR.dModel], [n, BOTTLENECK], "int8");
  const pair = await trainPair(steps, threads);
  process.stdout.write(`after ${pair.plain.tokens} tokens: uncompressed val bpb ${pair.plain.valBpb.toFixed(4)} (${pair.seconds[0]?.toFixed(0)} s), ${ratio.toFixed(1)}x compressed ${pair.compressed.valBpb.toFixed(4)} (${pair.seconds[1]?.toFixed(0)} s), unigram ${pair.plain.unigramBpb.toFixed(4)}\n`);
  const out = {
    ratios: { stage_vs_matmul: tp.stageGflops / tp.matmulGflops, compressed_vs_uncompressed_bpb: pair.compressed.valBpb / pair.plain.valBpb },
    figures: {
      compression_ratio: ratio,
      matmul_gflops: tp.matmulGflops,
      stage_gflops: tp.stageGflops,
      codec_mb_per_s: codec,
      uncompressed_val_bpb: pair.plain.valBpb,
      compressed_val_bpb: pair.compressed.valBpb,
      unigram_bpb: pair.plain.unigramBpb,
      tokens: pair.plain.tokens,
    },
    config: {
      stage: { dModel: STAGE.dModel, nHead: STAGE.nHead, blocks: 2, tokens: tokens(STAGE), threads },
      pair: { dModel: PAIR.dModel, nHead: PAIR.nHead, nLayer: PAIR.nLayer, stages: 2, bottleneck: BOTTLENECK, quant: "int8", batch: PAIR.batch, seq: PAIR.seq, steps },
    },
  };
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/kernels.json", `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(out.ratios)}\nwrote bench/results/kernels.json\n`);
};

// The monolithic trainer: it learns, checkpoint + resume reproduces the uninterrupted trajectory
// byte for byte, the codec'd pipeline equals the fused model when the codec is lossless, and the
// exported inference model's logits give the trainer's loss under plain onnxruntime.
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { compressionRatio } from "../../../src/kernels/codec/format.js";
import { batch } from "../../../src/kernels/data/batches.js";
import { sotuCorpus, type Corpus } from "../../../src/kernels/data/corpus.js";
import { DEFAULT_CONFIG } from "../../../src/kernels/model/config.js";
import { localRun } from "../../../src/kernels/model/local-run.js";
import { decodeCheckpoint, encodeCheckpoint, CheckpointError } from "../../../src/kernels/train/checkpoint.js";
import { pipelineEngine, wholeEngine } from "../../../src/kernels/train/engine.js";
import { exportInference } from "../../../src/kernels/train/export.js";
import { DEFAULT_TRAIN, lrAt, type TrainOptions } from "../../../src/kernels/train/options.js";
import { specsOf, train } from "../../../src/kernels/train/trainer.js";
import { initParams } from "../../../src/kernels/model/params.js";

const full = sotuCorpus();
const corpus: Corpus = { train: full.train.subarray(0, 200_000), validation: full.validation.subarray(0, 20_000) };
const tiny: TrainOptions = {
  ...DEFAULT_TRAIN,
  model: { ...DEFAULT_CONFIG, dModel: 32, nHead: 2, nLayer: 2, seq: 16, batch: 4 },
  steps: 12, evalEvery: 4, evalBatches: 2, warmup: 2, threads: 1, lr: 1e-2,
};
const rt = localRun(1);
afterAll(() => rt.release());

const bytes = (xs: Iterable<Float32Array>): number[] => [...xs].flatMap((x) => Array.from(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)));

describe("train", () => {
  it("lowers validation bpb and reports the figures --json writes", async () => {
    const { result } = await train(tiny, corpus, rt.run);
    expect(result.steps).toBe(12);
    expect(result.tokens).toBe(12 * 64);
    expect(result.lossCurve.map(([t]) => t)).toEqual([256, 512, 768]);
    expect(result.lossCurve[2]?.[1]).toBeLessThan(result.lossCurve[0]?.[1] ?? 0);
    expect(result.valBpb).toBe(result.lossCurve[2]?.[1]);
    expect(result.unigramBpb).toBeGreaterThan(3);
  });

  it("resumes from a checkpoint onto exactly the uninterrupted trajectory", async () => {
    const straight = await train(tiny, corpus, rt.run);
    const half = await train(tiny, corpus, rt.run, { stopAfter: 6 });
    expect(half.checkpoint.step).toBe(6);
    const restored = decodeCheckpoint(encodeCheckpoint(half.checkpoint));
    const resumed = await train(tiny, corpus, rt.run, { resume: restored });
    expect(resumed.result.steps).toBe(12);
    expect(resumed.result.lossCurve).toEqual(straight.result.lossCurve);
    expect(bytes(Object.values(resumed.params))).toEqual(bytes(Object.values(straight.params)));
    expect(Array.from(resumed.checkpoint.optimizer)).toEqual(Array.from(straight.checkpoint.optimizer));
  });

  it("refuses a checkpoint of another run or a damaged one", async () => {
    const half = await train(tiny, corpus, rt.run, { stopAfter: 1 });
    await expect(train({ ...tiny, lr: 0.5 }, corpus, rt.run, { resume: half.checkpoint })).rejects.toBeInstanceOf(CheckpointError);
    const buf = encodeCheckpoint(half.checkpoint);
    expect(() => decodeCheckpoint(buf.subarray(0, buf.length - 3))).toThrow(CheckpointError);
    expect(() => decodeCheckpoint(buf.subarray(0, 40))).toThrow(CheckpointError);
  });

  it("follows warmup then cosine decay to the floor", () => {
    const o = { ...DEFAULT_TRAIN, steps: 100, warmup: 10, lr: 1, minLrRatio: 0.1 };
    expect(lrAt(o, 0)).toBeCloseTo(0.1, 12);
    expect(lrAt(o, 9)).toBeCloseTo(1, 12);
    expect(lrAt(o, 55)).toBeCloseTo(0.55, 12);
    expect(lrAt(o, 100)).toBeCloseTo(0.1, 12);
  });
});

describe("pipeline engine", () => {
  const c = { ...tiny.model, stages: 2 };
  const params = initParams(c, specsOf({ ...tiny, model: c }).specs);
  const b = batch(corpus.train, 3, 0, { batchSize: c.batch, seq: c.seq });
  const sb = { ids: { dims: b.dims, data: b.inputs }, targets: { dims: b.dims, data: b.targets } };

  it("equals the fused model when the wire is lossless fp32", async () => {
    const whole = await wholeEngine(c, rt.run).step(params, sb);
    const piped = await pipelineEngine(c, rt.run, "fp32").step(params, sb);
    expect(piped.loss).toBeCloseTo(whole.loss, 5);
    for (const [name, g] of Object.entries(whole.grads)) {
      const h = piped.grads[name] as Float32Array;
      g.forEach((v, i) => expect(Math.abs(v - (h[i] ?? NaN))).toBeLessThan(1e-5 + 1e-3 * Math.abs(v)));
    }
  });

  it("sends compressed bytes both ways and stays close to the uncompressed loss", async () => {
    const cb = { ...c, bottleneck: 4 };
    const p = initParams(cb, specsOf({ ...tiny, model: cb }).specs);
    const lossless = await pipelineEngine(cb, rt.run, "fp32").step(p, sb);
    const int8 = await pipelineEngine(cb, rt.run, "int8").step(p, sb);
    const n = c.batch * c.seq;
    // one activation forward + one gradient backward, each [n, 4] int8 against [n, 32] fp32
    expect(int8.traffic.fp32Bytes / int8.traffic.wireBytes).toBeCloseTo(compressionRatio([n, 32], [n, 4], "int8"), 9);
    expect(Math.abs(int8.loss - lossless.loss)).toBeLessThan(0.01);
  });
});

describe("inference export", () => {
  it("runs under plain onnxruntime and its logits give the trainer's loss", async () => {
    const { params } = await train({ ...tiny, steps: 3 }, corpus, rt.run);
    const c = tiny.model;
    const b = batch(corpus.validation, 5, 0, { batchSize: c.batch, seq: c.seq });
    const lossOfTrainer = await wholeEngine(c, rt.run).loss(params, { ids: { dims: b.dims, data: b.inputs }, targets: { dims: b.dims, data: b.targets } });
    const session = await ort.InferenceSession.create(exportInference(c, params));
    expect(session.inputNames).toEqual(["ids"]);
    const out = await session.run({ ids: new ort.Tensor("int32", b.inputs as Int32Array, [c.batch, c.seq]) });
    const logits = out["logits"];
    expect(logits?.dims).toEqual([c.batch, c.seq, c.vocab]);
    const l = logits?.data as Float32Array;
    let nll = 0;
    for (let i = 0; i < c.batch * c.seq; i++) {
      const row = l.subarray(i * c.vocab, (i + 1) * c.vocab);
      const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      nll += lse - (row[Number(b.targets[i])] ?? 0);
    }
    expect(nll / (c.batch * c.seq)).toBeCloseTo(lossOfTrainer, 5);
    await session.release();
  });
});

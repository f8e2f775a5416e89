// The sim's seam to numerics: `ComputeModel` is what a host implements with real kernels (ORT GPT
// stages, the codec, optimizers, Object Store blobs); `fakeCompute` is a pure, deterministic
// stand-in whose weights really change and really get averaged, so merges are exercised for real.
import { adoptPartition, digestBytes, f32Bytes, type OuterBasis, partitionBounds, reduceResult, resultParams, unpackOuter, xoshiro128 } from "../protocol/index.js";
import type { Effect, ReduceTask } from "../worker/index.js";

type Params<T extends Effect["type"]> = Extract<Effect, { type: T }>["params"];

/** A content-addressed blob store (the Object Store bucket's stand-in). */
export interface BlobStore {
  put(data: Float32Array): string;
  get(ref: string): Float32Array | undefined;
}

export const memoryBlobs = (): BlobStore & { readonly size: () => number } => {
  const blobs = new Map<string, Float32Array>();
  return {
    put: (data) => {
      const ref = digestBytes(f32Bytes(data));
      blobs.set(ref, data.slice());
      return ref;
    },
    get: (ref) => blobs.get(ref)?.slice(),
    size: () => blobs.size,
  };
};

/** What a miner host does for each worker effect; results go back to the machine as events. */
export interface ComputeModel {
  forward(miner: string, w: Params<"forward">): { ref: string; bytes: number };
  lastStage(miner: string, w: Params<"lastStage">): { loss: number; tokens: number; ref: string; bytes: number };
  backward(miner: string, w: Params<"backward">): { ref: string; bytes: number };
  step(miner: string, p: Params<"stepOptimizer">): void;
  /** Snapshot the miner's weights, cut them into partitions, store each; returns partition refs and bytes sent. */
  sendPartitions(miner: string, p: Params<"sendPartitions">): { refs: string[]; bytes: number };
  /** Average one partition over the sealed contributors; returns the result's content hash. */
  reduce(miner: string, task: ReduceTask): string;
  load(miner: string, p: Params<"loadWeights">): string;
  store(miner: string, p: Params<"storeWeights">): string;
  snapshot(miner: string, p: Params<"snapshotWeights">): void;
  /** Adopt accepted partitions, keep own values for skipped ones; returns the new weights ref. */
  applyMerge(miner: string, p: Params<"applyMerge">): string;
}

export interface FakeComputeOptions {
  readonly seed: string;
  readonly params: readonly number[];
  readonly tokensPerMicrobatch: number;
  /** Miners whose reductions are wrong (an adversarial reducer). */
  readonly wrongReducers?: readonly string[];
  /** Bytes of one compressed activation or gradient message. */
  readonly wireBytes?: number;
}

/** Initial stage weights, seeded: the same for every host. */
export const initialWeights = (seed: string, stage: number, n: number): Float32Array => {
  const r = xoshiro128(`${seed}|init|${stage}`);
  return Float32Array.from({ length: n }, () => r.float() - 0.5);
};

/**
 * A deterministic fake: the loss of a microbatch falls with the optimizer steps the last-stage
 * miner has taken, plus batch-dependent noise; backward nudges weights by a batch-seeded
 * pseudo-gradient. Bytes are real float32 bytes, so merge traffic is measured, not assumed.
 */
export const fakeCompute = (o: FakeComputeOptions, blobs: BlobStore): ComputeModel & { weights: (miner: string) => Float32Array | undefined } => {
  const weights = new Map<string, Float32Array>();
  const steps = new Map<string, number>();
  /** The weights each miner sent to each merge (by "miner|merge"), the base of an overlapped adoption. */
  const sent = new Map<string, Float32Array>();
  const wire = o.wireBytes ?? 64;
  const nudge = (miner: string, stage: number, lease: string) => {
    const w = weights.get(miner);
    if (w === undefined) return;
    const r = xoshiro128(`${o.seed}|grad|${lease}|${stage}`);
    for (let i = 0; i < w.length; i++) w[i] = (w[i] as number) - 1e-3 * (r.float() - 0.5);
  };
  return {
    weights: (m) => weights.get(m),
    forward: (_m, w) => ({ ref: `act:${w.lease}:${w.stage}`, bytes: wire }),
    lastStage: (m, w) => {
      nudge(m, w.stage, w.lease);
      const k = steps.get(m) ?? 0;
      const noise = xoshiro128(`${o.seed}|loss|${w.batch}`).float() * 0.05;
      return { loss: 1 + 4 / (1 + 0.05 * k) + noise, tokens: o.tokensPerMicrobatch, ref: `grad:${w.lease}:${w.stage}`, bytes: wire };
    },
    backward: (m, w) => {
      nudge(m, w.stage, w.lease);
      return { ref: `grad:${w.lease}:${w.stage}`, bytes: wire };
    },
    step: (m) => { steps.set(m, (steps.get(m) ?? 0) + 1); },
    sendPartitions: (m, p) => {
      const w = weights.get(m) ?? new Float32Array(o.params[p.stage] ?? 1);
      sent.set(`${m}|${p.merge}`, w.slice());
      const parts = partitionBounds(w.length, p.partitions);
      const refs = parts.map((q) => blobs.put(w.slice(q.start, q.end)));
      const bytes = parts.reduce((s, q, i) => s + (q.end - q.start) * 4 * (p.reducers[i] ?? []).filter((r) => r !== m).length, 0);
      return { refs, bytes };
    },
    reduce: (m, task) => {
      const contributions = task.contributors.map((c) => ({ miner: c.miner, samples: Math.max(1, c.samples), data: blobs.get(c.ref) ?? new Float32Array(0) }));
      const avg = reduceResult(contributions, outerBasis(task, o, blobs));
      if (o.wrongReducers?.includes(m) === true && avg.length > 0) avg[0] = (avg[0] as number) + 1;
      return blobs.put(avg);
    },
    load: (m, p) => {
      const w = blobs.get(p.ref) ?? initialWeights(o.seed, p.stage, o.params[p.stage] ?? 1);
      weights.set(m, w);
      return blobs.put(w);
    },
    snapshot: (m, p) => {
      const w = weights.get(m);
      if (w !== undefined) sent.set(`${m}|${p.merge}`, w.slice());
    },
    store: (m, p) => blobs.put(weights.get(m) ?? initialWeights(o.seed, p.stage, o.params[p.stage] ?? 1)),
    applyMerge: (m, p) => {
      const w = weights.get(m) ?? initialWeights(o.seed, p.stage, o.params[p.stage] ?? 1);
      const base = p.overlap ? sent.get(`${m}|${p.merge}`) : undefined;
      const parts = partitionBounds(w.length, p.results.length);
      parts.forEach((q, i) => {
        const h = p.results[i];
        const got = h === null || h === undefined ? undefined : blobs.get(h);
        const x = got === undefined ? undefined : resultParams(got, q.end - q.start, p.outer);
        if (x !== undefined) adoptPartition(w, q.start, x, base);
      });
      sent.delete(`${m}|${p.merge}`);
      weights.set(m, w);
      return blobs.put(w);
    },
  };
};

/** The basis of an outer-step reduction: the previous result (parameters, momentum) or the initial weights' slice. */
const outerBasis = (task: ReduceTask, o: FakeComputeOptions, blobs: BlobStore): OuterBasis | undefined => {
  const t = task.outer;
  if (t === undefined) return undefined;
  const rule = { lr: t.lr, momentum: t.momentum };
  const n = t.end - t.start;
  if (t.previous !== null) {
    const prev = blobs.get(t.previous);
    if (prev === undefined) throw new Error(`previous merge result ${t.previous} is missing`);
    const u = unpackOuter(prev, n);
    return { rule, anchor: u.params, momentum: u.momentum };
  }
  const init = blobs.get(t.initial) ?? initialWeights(o.seed, task.stage, o.params[task.stage] ?? 1);
  return { rule, anchor: init.slice(t.start, t.end), momentum: null };
};

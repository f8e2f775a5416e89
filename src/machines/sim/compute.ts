// The sim's seam to numerics: `ComputeModel` is what a host implements with real kernels (ORT GPT
// stages, the codec, optimizers, stored blobs); `fakeCompute` is a pure, deterministic
// stand-in whose weights really change and really get averaged, so merges are exercised for real.
import { adoptPartition, digestBytes, f32Bytes, hash128, type OuterBasis, partitionBounds, partitionBytesSent, reduceResult, resultParams, unpackOuter, xoshiro128 } from "../protocol/index.js";
import type { SwarmFact } from "../../events/swarm/index.js";
import type { WorkEvidence } from "../scorer/index.js";
import type { Effect, ReduceTask } from "../worker/index.js";

type Params<T extends Effect["type"]> = Extract<Effect, { type: T }>["params"];

/** A content-addressed blob store (the blob stream's stand-in). */
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
  /** `weights`: the version (content hash) of the weights the forward ran with. */
  forward(miner: string, w: Params<"forward">): { ref: string; bytes: number; weights: string | null };
  lastStage(miner: string, w: Params<"lastStage">): { loss: number; tokens: number; ref: string; bytes: number; weights: string | null };
  backward(miner: string, w: Params<"backward">): { ref: string; bytes: number };
  step(miner: string, p: Params<"stepOptimizer">): void;
  /** Snapshot the miner's weights, cut them into partitions, store each; returns partition refs and bytes sent. */
  sendPartitions(miner: string, p: Params<"sendPartitions">): { refs: string[]; bytes: number };
  /** Average one partition over the sealed contributors; returns the result's content hash. */
  reduce(miner: string, task: ReduceTask): string;
  load(miner: string, p: Params<"loadWeights">): string | Loaded;
  store(miner: string, p: Params<"storeWeights">): string;
  snapshot(miner: string, p: Params<"snapshotWeights">): void;
  /** Adopt accepted partitions, keep own values for skipped ones; returns the new weights ref. */
  applyMerge(miner: string, p: Params<"applyMerge">): string | Loaded;
  /** Store the kept weights version a spot check asks for; false when the miner no longer keeps it. */
  open(miner: string, p: Params<"openWeights">): boolean;
}

/** Weights a miner loaded, and the optimizer state it took over when the log named one. */
export interface Loaded {
  readonly ref: string;
  readonly optimizer?: string;
  readonly optimizerSteps?: number;
}

type Awaitable<F> = F extends (...a: infer A) => infer R ? (...a: A) => R | Promise<R> : never;

/**
 * A compute model whose effects may be awaited (real kernels behind `simulateAsync`). `observe`
 * sees each log fact delivered to a miner (e.g. to free a closed lease's activations); `release`
 * is called when a miner dies.
 */
export type AsyncComputeModel = { readonly [K in keyof ComputeModel]: Awaitable<ComputeModel[K]> } & {
  readonly observe?: (miner: string, fact: SwarmFact) => void;
  readonly release?: (miner: string) => void | Promise<void>;
};

/** What an adversarial miner does instead of honest work (`swarmline sim --adversary KIND@ID`). */
export const ADVERSARY_KINDS = ["noise", "scaled", "stale", "freerider", "lazy-reducer", "colluding"] as const;
export type AdversaryKind = (typeof ADVERSARY_KINDS)[number];

export interface FakeComputeOptions {
  readonly seed: string;
  readonly params: readonly number[];
  readonly tokensPerMicrobatch: number;
  /** Miners whose reductions are wrong (an adversarial reducer; same as adversary "lazy-reducer"). */
  readonly wrongReducers?: readonly string[];
  /** Adversarial miners by id. */
  readonly adversaries?: Readonly<Record<string, AdversaryKind>>;
  /** Bytes of one compressed activation or gradient message. */
  readonly wireBytes?: number;
}

/** Initial stage weights, seeded: the same for every host. */
export const initialWeights = (seed: string, stage: number, n: number): Float32Array => {
  const r = xoshiro128(`${seed}|init|${stage}`);
  return Float32Array.from({ length: n }, () => r.float() - 0.5);
};

/** The weights the fake loss is lowest at (each stage's optimum), seeded. */
const targetWeights = (seed: string, stage: number, n: number): Float32Array => {
  const r = xoshiro128(`${seed}|target|${stage}`);
  return Float32Array.from({ length: n }, () => r.float() - 0.5);
};

const ETA = 0.02;
/** Extra loss of a pathway whose activations are noise. */
export const NOISE_PENALTY = 1;
/** Weights versions a fake miner keeps for spot checks. */
const KEEP = 64;

const tag = (s: string): string => {
  const [a, b, c, d] = hash128(s);
  return [a, b, c, d].map((x) => x.toString(16).padStart(8, "0")).join("");
};

/** A spot check's outcome: `distance` 0 when the re-executed work matches the claim. */
export interface CheckOutcome {
  readonly passed: boolean;
  readonly distance: number;
  readonly detail: string;
}

/**
 * A deterministic fake whose numbers behave like training: each stage has an optimum w*, a
 * miner's backward pulls its weights towards it (plus batch-seeded noise), merges average them,
 * and a pathway's loss is 1 + Σ_stages 4/S·‖w − w*‖²/‖w₀ − w*‖² + batch noise, so a stage whose
 * miner trains less (or is adversarial) raises the loss of the pathways through it. Activations
 * and gradients are content tags of (weights version, input): a validator re-executing the work
 * from the log gets the same tag exactly when the miner did honest work. Bytes of weights and
 * partitions are real float32 bytes, so merge traffic is measured, not assumed.
 */
export const fakeCompute = (o: FakeComputeOptions, blobs: BlobStore): Omit<ComputeModel, "load" | "applyMerge"> & {
  load: (miner: string, p: Params<"loadWeights">) => string;
  applyMerge: (miner: string, p: Params<"applyMerge">) => string;
  weights: (miner: string) => Float32Array | undefined;
  /** Re-executes the work a spot check names (the validator's side). */
  check: (e: WorkEvidence) => CheckOutcome;
} => {
  const stages = o.params.length;
  const weights = new Map<string, Float32Array>();
  const kept = new Map<string, Map<string, Float32Array>>();
  /** The weights each miner sent to each merge (by "miner|merge"), the base of an overlapped adoption. */
  const sent = new Map<string, Float32Array>();
  /** The version each lease's forward ran with ("miner|lease|stage"): its backward uses the same (weight stashing). */
  const stash = new Map<string, string>();
  /** Loss carried by each activation tag: the quality terms of the stages it went through. */
  const carried = new Map<string, number>();
  const targets = o.params.map((n, s) => targetWeights(o.seed, s, n));
  const d0 = o.params.map((n, s) => distance(initialWeights(o.seed, s, n), targets[s] as Float32Array));
  const wire = o.wireBytes ?? 64;
  const kind = (m: string): AdversaryKind | undefined => o.adversaries?.[m] ?? (o.wrongReducers?.includes(m) === true ? "lazy-reducer" : undefined);

  const quality = (w: Float32Array, stage: number): number => (4 / stages) * (distance(w, targets[stage] as Float32Array) / (d0[stage] || 1));
  const version = (m: string): string => {
    const w = weights.get(m);
    if (w === undefined) return "none";
    const v = digestBytes(f32Bytes(w));
    const ring = kept.get(m) ?? new Map<string, Float32Array>();
    if (!ring.has(v)) {
      ring.set(v, w.slice());
      if (ring.size > KEEP) ring.delete(ring.keys().next().value as string);
    }
    kept.set(m, ring);
    return v;
  };
  const nudge = (m: string, stage: number, lease: string): void => {
    const w = weights.get(m);
    const k = kind(m);
    if (w === undefined || k === "stale" || k === "freerider") return;
    const t = targets[stage] as Float32Array;
    const r = xoshiro128(`${o.seed}|grad|${lease}|${stage}`);
    for (let i = 0; i < w.length; i++) w[i] = (w[i] as number) - ETA * ((w[i] as number) - (t[i] as number)) + ETA * 0.5 * (r.float() - 0.5);
  };
  const actTag = (v: string, input: string | null, batch: number, stage: number): string => `act:${tag(`act|${v}|${input}|${batch}|${stage}`)}`;
  const gradTag = (v: string, from: string | null, stage: number): string => `grad:${tag(`grad|${v}|${from}|${stage}`)}`;
  const batchNoise = (batch: number): number => xoshiro128(`${o.seed}|loss|${batch}`).float() * 0.05;
  const lossOf = (q: number, input: string | null, batch: number): number => 1 + (input === null ? 0 : carried.get(input) ?? 0) + q + batchNoise(batch);

  return {
    weights: (m) => weights.get(m),
    forward: (m, w) => {
      const v = version(m);
      stash.set(`${m}|${w.lease}|${w.stage}`, v);
      const q = quality(weights.get(m) ?? new Float32Array(0), w.stage);
      const inCarried = w.input === null ? 0 : carried.get(w.input) ?? 0;
      const k = kind(m);
      const ref = k === "noise" ? `act:${tag(`noise|${m}|${w.lease}|${w.stage}`)}` : k === "freerider" ? `act:${tag(`copy|${w.input}|${w.lease}`)}` : actTag(v, w.input, w.batch, w.stage);
      carried.set(ref, inCarried + (k === "noise" ? q + NOISE_PENALTY : k === "freerider" ? 4 / stages : q));
      return { ref, bytes: wire, weights: v };
    },
    lastStage: (m, w) => {
      const v = version(m);
      const k = kind(m);
      const q = k === "freerider" ? 4 / stages : quality(weights.get(m) ?? new Float32Array(0), w.stage);
      const loss = lossOf(q, w.input, w.batch) + (k === "noise" ? NOISE_PENALTY : 0);
      nudge(m, w.stage, w.lease);
      const ref = k === "noise" || k === "scaled" || k === "freerider" ? `grad:${tag(`${k}|${m}|${w.lease}`)}` : gradTag(v, w.input, w.stage);
      return { loss, tokens: o.tokensPerMicrobatch, ref, bytes: wire, weights: v };
    },
    backward: (m, w) => {
      const v = stash.get(`${m}|${w.lease}|${w.stage}`) ?? "none";
      stash.delete(`${m}|${w.lease}|${w.stage}`);
      nudge(m, w.stage, w.lease);
      const k = kind(m);
      const ref = k === "scaled" || k === "freerider" ? `grad:${tag(`${k}|${m}|${w.lease}`)}` : gradTag(v, w.grad, w.stage);
      return { ref, bytes: wire };
    },
    step: () => undefined,
    sendPartitions: (m, p) => {
      const w = weights.get(m) ?? new Float32Array(o.params[p.stage] ?? 1);
      sent.set(`${m}|${p.merge}`, w.slice());
      const parts = partitionBounds(w.length, p.partitions);
      const refs = parts.map((q) => blobs.put(w.slice(q.start, q.end)));
      const bytes = partitionBytesSent(m, parts, p.reducers);
      return { refs, bytes };
    },
    reduce: (m, task) => {
      const avg = honestReduction(task, o, blobs);
      const k = kind(m);
      const wrong = k === "lazy-reducer" || (k === "colluding" && task.reducers.some((r) => r !== m && kind(r) === "colluding"));
      if (wrong && avg.length > 0) avg[0] = (avg[0] as number) + 1;
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
      // A stale miner keeps its initial weights: it adopts nothing.
      if (kind(m) !== "stale")
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
    open: (m, p) => {
      const w = kept.get(m)?.get(p.weights);
      if (w === undefined) return false;
      blobs.put(w);
      return true;
    },
    check: (e) => {
      const fail = (detail: string): CheckOutcome => ({ passed: false, distance: 1, detail });
      if (e.kind === "missing") return fail(e.reason);
      if (e.kind === "reduce") {
        const t = e.accepted.task;
        if (t === null) return fail("the reduction's inputs are not in the log");
        let hash: string;
        try {
          hash = digestBytes(f32Bytes(honestReduction(t, o, blobs)));
        } catch (err) {
          return fail(`cannot re-run the reduction: ${err instanceof Error ? err.message : String(err)}`);
        }
        return hash === e.accepted.hash ? { passed: true, distance: 0, detail: "reduction recomputed bit for bit" } : fail(`accepted ${e.accepted.hash.slice(0, 12)}, recomputed ${hash.slice(0, 12)}`);
      }
      if (e.weights === null) return fail("the work names no weights version");
      const w = blobs.get(e.weights);
      if (w === undefined) return fail(`weights ${e.weights.slice(0, 12)} were never opened`);
      const stage = e.target.stage;
      if (e.kind === "forward") return e.out === actTag(e.weights, e.input, e.batch, stage) ? { passed: true, distance: 0, detail: "activations match" } : fail("activations differ from the re-executed forward");
      if (e.kind === "backward") return e.gradOut === gradTag(e.weights, e.gradIn, stage) ? { passed: true, distance: 0, detail: "gradients match" } : fail("input-gradients differ from the re-executed backward");
      const loss = lossOf(quality(w, stage), e.input, e.batch);
      const dist = e.loss === null ? 1 : Math.abs(e.loss - loss);
      if (dist > 1e-9) return { passed: false, distance: dist, detail: `loss ${e.loss} differs from the re-executed ${loss}` };
      if (stage > 0 && e.gradOut !== gradTag(e.weights, e.input, stage)) return fail("input-gradients differ from the re-executed backward");
      return { passed: true, distance: 0, detail: "loss and gradients match" };
    },
  };
};

/** Mean squared distance of two vectors (float64, index order). */
const distance = (a: Float32Array, b: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += ((a[i] as number) - (b[i] as number)) ** 2;
  return a.length > 0 ? s / a.length : 0;
};

/** The honest result of a reduce task over the blobs it names. */
const honestReduction = (task: ReduceTask, o: FakeComputeOptions, blobs: BlobStore): Float32Array => {
  const contributions = task.contributors.map((c) => ({ miner: c.miner, samples: Math.max(1, c.samples), data: blobs.get(c.ref) ?? new Float32Array(0) }));
  return reduceResult(contributions, outerBasis(task, o, blobs));
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

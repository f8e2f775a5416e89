// The pure simulator's compute seam backed by the real kernels (`swarmline sim --deterministic`):
// each miner's effects run on its MinerCompute (ORT stage sessions on the shared KernelPool, the
// wire codec, AdamW, merges on stored blobs) exactly as the miner host performs them, but awaited
// one at a time in the simulator's order, so a run's numbers follow from its seed alone.
import type { Corpus } from "../../kernels/data/corpus.js";
import type { SwarmFact } from "../../events/swarm/index.js";
import type { AsyncComputeModel, Loaded } from "../../machines/sim/index.js";
import { BlobCorrupt, type BlobMissing, type BlobStore, f32View, getF32, OWNED } from "./blob-store.js";
import { type AdversaryKind, tamperReduction } from "./adversary.js";
import { MinerCompute } from "./compute.js";
import { type StageKernels } from "./stage-kernels.js";
import { fetchResults, reducePartition, storeSnapshot } from "./merge-io.js";
import { type SwarmModel, viewsOf } from "./model.js";

export interface KernelComputeOptions {
  readonly model: SwarmModel;
  readonly kernels: StageKernels;
  readonly corpus: Corpus;
  readonly blobs: BlobStore;
  /** Adversarial miners by id. */
  readonly adversaries?: Readonly<Record<string, AdversaryKind>>;
  /** Blob problems and other non-fatal faults, said once each (the run goes on without the blob). */
  readonly report?: (message: string) => void;
}

/** A compute model over real kernels, plus what the harness reads from it (weights, data messages). */
export interface KernelCompute extends AsyncComputeModel {
  /** The stage of a live miner's weights, if it loaded any. */
  stageOf(miner: string): number | null;
  /** A live miner's parameters by name (views of one copy). */
  params(miner: string): Promise<Record<string, Float32Array> | undefined>;
  /** Bytes of a data message (compressed activations or gradients) by content ref. */
  data(ref: string): Uint8Array | undefined;
  /** Forgets every miner's state in the pool. */
  close(): Promise<void>;
}

export const kernelCompute = (o: KernelComputeOptions): KernelCompute => {
  const miners = new Map<string, MinerCompute>();
  /** The data stream's stand-in: every activation and gradient message, by content ref. */
  const messages = new Map<string, Uint8Array>();
  const kind = (m: string): AdversaryKind | undefined => o.adversaries?.[m];
  const colluder = (m: string): boolean => kind(m) === "colluding";
  const report = (e: BlobCorrupt | BlobMissing): void => o.report?.(`${e.message}; going on without it`);
  const of = (m: string): MinerCompute => {
    const c = miners.get(m);
    if (c === undefined) throw new Error(`miner ${m} has no weights loaded`);
    return c;
  };
  const message = (ref: string | null): Uint8Array | null => {
    if (ref === null) return null;
    const b = messages.get(ref);
    if (b === undefined) throw new Error(`data message ${ref} was never sent`);
    return b;
  };
  const keep = (w: { ref: string; bytes: Uint8Array }): void => void messages.set(w.ref, w.bytes);

  return {
    forward: async (m, w) => {
      const out = await of(m).forward(w.lease, w.batch, message(w.input));
      keep(out);
      return { ref: out.ref, bytes: out.bytes.length, weights: out.weights };
    },
    lastStage: async (m, w) => {
      const r = await of(m).lastStage(w.batch, message(w.input));
      if (r.grad !== null) keep(r.grad);
      return { loss: r.loss, tokens: r.tokens, ref: r.grad?.ref ?? "", bytes: r.grad?.bytes.length ?? 0, weights: r.weights };
    },
    backward: async (m, w) => {
      const g = await of(m).backward(w.lease, message(w.grad) ?? new Uint8Array(0));
      if (g !== null) keep(g);
      return { ref: g?.ref ?? "", bytes: g?.bytes.length ?? 0 };
    },
    step: (m, p) => of(m).step(p.leases.length, p.lr ?? o.model.optim.lr),
    sendPartitions: async (m, p) => {
      return storeSnapshot(o.blobs, of(m), m, p);
    },
    reduce: (m, task) => {
      const k = kind(m);
      const tamper = k === undefined ? undefined : (x: Float32Array) => tamperReduction(k, m, task, colluder, x);
      return reducePartition(o.blobs, task, report, tamper);
    },
    load: async (m, p): Promise<Loaded> => {
      let c = miners.get(m);
      if (c === undefined || c.stage !== p.stage) {
        await c?.release();
        c = new MinerCompute(o.kernels, o.model, o.corpus, p.stage, kind(m));
        miners.set(m, c);
      }
      await c.setWeights(await getF32(o.blobs, p.ref));
      // The stage's stored AdamW state, when the log names one (as the miner host does).
      const state = p.optimizer === undefined ? undefined : await o.blobs.get(p.optimizer).catch((e: unknown) => {
        if (e instanceof BlobCorrupt) report(e);
        else throw e;
        return undefined;
      });
      const restored = state !== undefined && (await c.restoreOptimizer(state).then(() => true, (e: unknown) => {
        o.report?.(`optimizer state ${String(p.optimizer)} does not fit: ${e instanceof Error ? e.message : String(e)}`);
        return false;
      }));
      return { ref: p.ref, ...(restored && p.optimizer !== undefined ? { optimizer: p.optimizer, optimizerSteps: c.optimizerSteps } : {}) };
    },
    store: async (m) => {
      const w = await of(m).weights();
      if (w === undefined) throw new Error(`miner ${m} has no weights to store`);
      return o.blobs.put(f32View(w), OWNED);
    },
    snapshot: async (m, p) => {
      await miners.get(m)?.snapshot(p.merge);
    },
    applyMerge: async (m, p): Promise<Loaded> => {
      const c = of(m);
      const got = await fetchResults(o.blobs, c.layout.size, p.results, p.outer, report);
      const w = await c.adopt(p.merge, got, p.overlap);
      if (w === undefined) throw new Error(`miner ${m} has no weights to merge into`);
      const ref = await o.blobs.put(f32View(w), OWNED);
      const state = p.storeOptimizer ? await c.saveOptimizer() : undefined;
      const optimizer = state === undefined ? undefined : await o.blobs.put(state, OWNED);
      return { ref, ...(optimizer === undefined ? {} : { optimizer }) };
    },
    open: async (m, p) => {
      const w = await miners.get(m)?.opened(p.weights);
      if (w !== undefined) await o.blobs.put(f32View(w), OWNED);
      return w !== undefined;
    },
    observe: (m, f: SwarmFact) => {
      if (f.type === "MicrobatchCompleted" || f.type === "MicrobatchReissued") miners.get(m)?.drop(f.payload.lease);
    },
    release: async (m) => {
      const c = miners.get(m);
      miners.delete(m);
      await c?.release();
    },
    stageOf: (m) => miners.get(m)?.stage ?? null,
    params: async (m) => {
      const c = miners.get(m);
      const w = await c?.weights();
      return c === undefined || w === undefined ? undefined : viewsOf(c.layout, w);
    },
    data: (ref) => messages.get(ref),
    close: async () => {
      for (const c of miners.values()) await c.release().catch(() => undefined);
      miners.clear();
    },
  };
};

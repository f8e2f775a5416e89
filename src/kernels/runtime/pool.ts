// A pool of worker threads that own ORT sessions, so `session.run` (which blocks its thread)
// never blocks the main event loop. Models are pinned to a worker by key; tensors cross threads
// by transferring their ArrayBuffers (zero copy) when the caller allows it, or stay in the worker
// as stashes between the runs that need them (a forward's saved activations for its backward).
// Parameter sets keep a model's weights, summed gradients and AdamW moments in a worker, so its runs
// read their parameters and add up their gradients there and the optimizer steps there too.
import { Worker } from "node:worker_threads";
import { Effect, type Scope } from "effect";
import { KernelFailed, kernelFailed } from "./errors.js";
import type { StepReport } from "../optim/adamw.js";
import { buffersOf, type ModelInfo, type OptimizerSpec, type ParamSetSpec, type WorkerReply, type WorkerRequest } from "./protocol.js";
import type { Tensor } from "./tensor.js";

export type { ModelInfo, OptimizerSpec, ParamSetSpec } from "./protocol.js";

/** Options for KernelPool.create. */
export type PoolOptions = {
  /** Worker threads (default 1). */
  readonly workers?: number;
  /** intraOpNumThreads of each session (default 1). workers × threads should not exceed the cores. */
  readonly threadsPerWorker?: number;
  /** Force a provider; omitted = CUDA when available, else CPU. */
  readonly provider?: "cpu" | "cuda";
};

/** Options of one run. */
export type RunOptions = {
  /**
   * Transfer the feeds' ArrayBuffers to the worker instead of copying them. Faster, but the
   * caller's arrays become detached (length 0) after the call: only for throwaway inputs.
   */
  readonly transfer?: boolean;
  /** Output buffers to write into; they are transferred and come back as the result's tensors. */
  readonly preallocated?: Record<string, Tensor>;
  /**
   * Keep these outputs in the worker instead of returning them, with the worker's copies of these
   * feeds, under a stash id (e.g. a forward's saved activations, parameters and input, for its
   * backward). A later run on the same worker reads them with `use`; `drop` frees them.
   */
  readonly keep?: { readonly stash: string; readonly outputs: readonly string[]; readonly feeds?: readonly string[] };
  /**
   * Take every model input missing from `feeds` from this stash (kept by an earlier run of a model
   * on the same worker: load it with `colocate`). `release` frees the stash after the run.
   */
  readonly use?: { readonly stash: string; readonly release?: boolean };
  /** Take every parameter input missing from `feeds` from this parameter set (setParams) on the model's worker. */
  readonly params?: string;
  /** Add these outputs (output name -> parameter name) into the set's summed gradients instead of returning them. */
  readonly accumulate?: { readonly set: string; readonly outputs: Readonly<Record<string, string>> };
};

type Pending = { resolve: (r: WorkerReply) => void; reject: (e: KernelFailed) => void };

type Slot = { readonly worker: Worker; readonly pending: Map<number, Pending>; models: number; dead: KernelFailed | undefined };

// Workers start from a plain-JS entry that registers tsx and imports worker.ts, which works
// under vitest and under bin/swarmline.mjs alike; the worker imports only this folder and ORT.
const workerUrl = new URL("./worker-boot.mjs", import.meta.url);

/** Worker threads owning ORT sessions. Create with `KernelPool.create`, end with `close()`. */
export class KernelPool {
  private nextId = 0;
  private closed = false;
  private readonly placement = new Map<string, { slot: Slot; info: ModelInfo }>();
  private readonly stashes = new Map<string, Slot>();
  private readonly sets = new Map<string, Slot>();

  private constructor(
    private readonly slots: readonly Slot[],
    private readonly threads: number,
    private readonly provider: "cpu" | "cuda" | undefined,
  ) {}

  /** Starts the workers and waits until each is online. */
  static async create(opts: PoolOptions = {}): Promise<KernelPool> {
    const n = Math.max(1, opts.workers ?? 1);
    const slots = await Promise.all(
      Array.from({ length: n }, () => new Promise<Slot>((resolve, reject) => {
        const worker = new Worker(workerUrl);
        const slot: Slot = { worker, pending: new Map(), models: 0, dead: undefined };
        worker.once("online", () => resolve(slot));
        worker.on("message", (reply: WorkerReply) => {
          const p = slot.pending.get(reply.id);
          if (p === undefined) return;
          slot.pending.delete(reply.id);
          p.resolve(reply);
        });
        const fail = (why: string) => {
          slot.dead = kernelFailed("worker", why);
          for (const p of slot.pending.values()) p.reject(slot.dead);
          slot.pending.clear();
          reject(slot.dead);
        };
        worker.on("error", (err) => fail(`kernel worker crashed: ${err.message}`));
        worker.on("exit", (code) => fail(`kernel worker exited with code ${code}`));
      })),
    );
    return new KernelPool(slots, Math.max(1, opts.threadsPerWorker ?? 1), opts.provider);
  }

  /** An Effect resource: the pool closes when the enclosing scope closes. */
  static scoped(opts: PoolOptions = {}): Effect.Effect<KernelPool, KernelFailed, Scope.Scope> {
    return Effect.acquireRelease(
      Effect.tryPromise({ try: () => KernelPool.create(opts), catch: (e) => (e instanceof KernelFailed ? e : kernelFailed("worker", String(e))) }),
      (pool) => Effect.promise(() => pool.close()),
    );
  }

  /** Number of worker threads. */
  get size(): number {
    return this.slots.length;
  }

  private send(slot: Slot, req: WorkerRequest, transfer: ArrayBuffer[]): Promise<WorkerReply & { ok: true }> {
    if (this.closed) return Promise.reject(kernelFailed("released", "kernel pool is closed"));
    if (slot.dead !== undefined) return Promise.reject(slot.dead);
    return new Promise((resolve, reject) => {
      slot.pending.set(req.id, {
        resolve: (r) => (r.ok ? resolve(r) : reject(kernelFailed(r.reason, r.message))),
        reject,
      });
      slot.worker.postMessage(req, transfer);
    });
  }

  /**
   * Loads (or replaces) a model under `key` on one worker: the given index, else the worker
   * holding the fewest models. The model bytes are copied; the caller keeps its array.
   */
  async load(key: string, model: Uint8Array, opts: { readonly worker?: number; readonly colocate?: string } = {}): Promise<ModelInfo> {
    const existing = this.placement.get(key)?.slot;
    const beside = opts.colocate === undefined ? undefined : this.placement.get(opts.colocate)?.slot;
    if (opts.colocate !== undefined && beside === undefined) throw kernelFailed("unknown-model", `cannot colocate with "${opts.colocate}": it is not loaded`);
    const slot = existing ?? beside ?? (opts.worker !== undefined ? this.slots[opts.worker % this.slots.length] : [...this.slots].sort((a, b) => a.models - b.models)[0]);
    if (slot === undefined) throw kernelFailed("worker", "pool has no workers");
    const copy = model.slice();
    // Counted before the reply, so loads started together spread over the workers.
    if (existing === undefined) slot.models++;
    let r: WorkerReply & { ok: true };
    try {
      r = await this.send(slot, { op: "load", id: this.nextId++, key, model: copy, threads: this.threads, provider: this.provider }, [copy.buffer]);
    } catch (e) {
      if (existing === undefined) slot.models--;
      throw e;
    }
    if (r.info === undefined) throw kernelFailed("worker", "load reply without model info");
    this.placement.set(key, { slot, info: r.info });
    return r.info;
  }

  /** Input/output names of a loaded model, or undefined. */
  info(key: string): ModelInfo | undefined {
    return this.placement.get(key)?.info;
  }

  /**
   * Runs the model under `key` on its worker. Feed/output checks are KernelSession's. Outputs named
   * in `opts.keep` stay in the worker and are not in the result.
   */
  async run(key: string, feeds: Record<string, Tensor>, outputNames?: readonly string[], opts: RunOptions = {}): Promise<Record<string, Tensor>> {
    return (await this.exec(key, feeds, outputNames, opts, false)).outputs ?? {};
  }

  /**
   * `run`, also reporting the version (content hash, ParamSet.version) of the weights the run read
   * from parameter set `opts.params`, or null without one. The worker hashes the very weights the
   * run reads, and keeps that version for `openParams`.
   */
  async runVersioned(
    key: string,
    feeds: Record<string, Tensor>,
    outputNames?: readonly string[],
    opts: RunOptions = {},
  ): Promise<{ readonly outputs: Record<string, Tensor>; readonly version: string | null }> {
    const r = await this.exec(key, feeds, outputNames, opts, opts.params !== undefined);
    if (opts.params !== undefined && r.version === undefined) throw kernelFailed("worker", "run reply without the version of its parameter set");
    return { outputs: r.outputs ?? {}, version: r.version ?? null };
  }

  private async exec(key: string, feeds: Record<string, Tensor>, outputNames: readonly string[] | undefined, opts: RunOptions, version: boolean): Promise<WorkerReply & { ok: true }> {
    const placed = this.placement.get(key);
    if (placed === undefined) throw kernelFailed("unknown-model", `no model loaded under "${key}"`);
    const use = opts.use;
    if (use !== undefined) {
      const at = this.stashes.get(use.stash);
      if (at === undefined) throw kernelFailed("unknown-stash", `no stash "${use.stash}" (kept by no run, or already released)`);
      if (at !== placed.slot) throw kernelFailed("unknown-stash", `stash "${use.stash}" is on another worker than "${key}": load the models with colocate`);
      if (use.release === true) this.stashes.delete(use.stash);
    }
    for (const set of [opts.params, opts.accumulate?.set]) {
      if (set !== undefined && this.sets.get(set) !== placed.slot) throw kernelFailed("unknown-model", `parameter set "${set}" is not on the worker of "${key}": set it with colocate`);
    }
    const keep = opts.keep;
    if (keep !== undefined) this.stashes.set(keep.stash, placed.slot);
    const pre = opts.preallocated;
    const transfer = [...(opts.transfer === true ? buffersOf(Object.values(feeds)) : []), ...(pre ? buffersOf(Object.values(pre)) : [])];
    const r = await this.send(placed.slot, {
      op: "run", id: this.nextId++, key, feeds, outputNames, preallocated: pre,
      keep: keep === undefined ? undefined : { id: keep.stash, outputs: keep.outputs, feeds: keep.feeds ?? [] },
      use: use === undefined ? undefined : { id: use.stash, release: use.release === true },
      params: opts.params, accumulate: opts.accumulate, ...(version ? { version } : {}),
    }, [...new Set(transfer)]).catch((e: unknown) => {
      if (keep !== undefined) this.stashes.delete(keep.stash); // the failed run kept nothing
      throw e;
    });
    return r;
  }

  /** Frees stashes (a lease closed before its backward); unknown ids are ignored. */
  async drop(...stashes: readonly string[]): Promise<void> {
    const bySlot = new Map<Slot, string[]>();
    for (const id of stashes) {
      const slot = this.stashes.get(id);
      if (slot === undefined) continue;
      this.stashes.delete(id);
      bySlot.set(slot, [...(bySlot.get(slot) ?? []), id]);
    }
    await Promise.all([...bySlot].map(([slot, ids]) => this.send(slot, { op: "drop", id: this.nextId++, stashes: ids }, [])));
  }

  /**
   * Loads (or replaces) the weights of parameter set `key` in a worker: beside the model
   * `colocate` on first use (runs of that model can then read it with `params`). `data` is copied.
   * `keep`: how many versions read by versioned runs the set keeps for openParams (default 16, 0
   * keeps none; absent on a later call leaves it as it was).
   */
  async setParams(key: string, spec: ParamSetSpec, data: Float32Array, opts: { readonly colocate?: string; readonly keep?: number } = {}): Promise<void> {
    let slot = this.sets.get(key);
    if (slot === undefined) {
      const beside = opts.colocate === undefined ? undefined : this.placement.get(opts.colocate)?.slot;
      if (opts.colocate !== undefined && beside === undefined) throw kernelFailed("unknown-model", `cannot colocate with "${opts.colocate}": it is not loaded`);
      slot = beside ?? [...this.slots].sort((a, b) => a.models - b.models)[0];
      if (slot === undefined) throw kernelFailed("worker", "pool has no workers");
      this.sets.set(key, slot);
    }
    await this.send(slot, { op: "params", id: this.nextId++, key, action: "set", spec, data, ...(opts.keep === undefined ? {} : { keep: opts.keep }) }, []);
  }

  /** The version of parameter set `key`'s weights (hex sha256 of their float32 LE bytes: their blob ref), after the requests queued before this call. */
  async paramsVersion(key: string): Promise<string> {
    const r = await this.send(this.setSlot(key), { op: "params", id: this.nextId++, key, action: "version" }, []);
    if (r.version === undefined) throw kernelFailed("worker", "version reply without a version");
    return r.version;
  }

  /**
   * The weights of version `hash` of parameter set `key`, if the set still keeps it (a versioned run
   * read it among the set's last `keep` versions); undefined when evicted or never kept. A fresh copy.
   */
  async openParams(key: string, hash: string): Promise<Float32Array | undefined> {
    const r = await this.send(this.setSlot(key), { op: "params", id: this.nextId++, key, action: "open", hash }, []);
    const out = r.outputs?.["params"]?.data;
    if (out !== undefined && !(out instanceof Float32Array)) throw kernelFailed("worker", "open reply with non-float32 weights");
    return out;
  }

  /** A copy of the weights of parameter set `key` as they are once the runs queued before this call are done. */
  async getParams(key: string): Promise<Float32Array> {
    const r = await this.send(this.setSlot(key), { op: "params", id: this.nextId++, key, action: "get" }, []);
    const out = r.outputs?.["params"]?.data;
    if (!(out instanceof Float32Array)) throw kernelFailed("worker", "params reply without weights");
    return out;
  }

  /**
   * Writes merged values into parameter set `key` in its worker's order (atomic with its runs and
   * steps): see ParamSet.blend. The parts are copied. With a `base` (an overlapped merge's sent
   * snapshot), resolves to the merge's consensus, `base` with the parts written in
   * (ParamSet.blendToConsensus): `base` moves to the worker and comes back as the result, so the
   * caller must not use it after the call (when it views part of a larger buffer it is copied instead).
   */
  async blendParams(key: string, parts: readonly { readonly start: number; readonly values: Float32Array }[], base: Float32Array): Promise<Float32Array>;
  async blendParams(key: string, parts: readonly { readonly start: number; readonly values: Float32Array }[]): Promise<void>;
  async blendParams(key: string, parts: readonly { readonly start: number; readonly values: Float32Array }[], base?: Float32Array): Promise<Float32Array | void> {
    const movable = base !== undefined && base.byteOffset === 0 && base.byteLength === base.buffer.byteLength && base.buffer instanceof ArrayBuffer;
    const r = await this.send(this.setSlot(key), { op: "params", id: this.nextId++, key, action: "blend", parts, base }, movable ? [base.buffer as ArrayBuffer] : []);
    if (base === undefined) return;
    const out = r.outputs?.["consensus"]?.data;
    if (!(out instanceof Float32Array)) throw kernelFailed("worker", "blend reply without the consensus");
    return out;
  }

  /**
   * One AdamW step of parameter set `key` over the mean of the `microbatches` gradients its runs
   * accumulated (its optimizer is created from `create` on the first step), at rate `lr`. Resolves to
   * the step's report and the `version` of the weights after it.
   */
  async optimize(key: string, step: { readonly microbatches: number; readonly lr: number; readonly create: OptimizerSpec }): Promise<StepReport & { readonly version: string }> {
    const r = await this.send(this.setSlot(key), { op: "optimize", id: this.nextId++, key, create: step.create, microbatches: step.microbatches, lr: step.lr }, []);
    if (r.report === undefined || r.version === undefined) throw kernelFailed("worker", "optimize reply without a step report and version");
    return { ...r.report, version: r.version };
  }

  /** The state of parameter set `key`'s optimizer (AdamW.save bytes), or undefined before its first step. */
  async saveOptimizer(key: string): Promise<Uint8Array | undefined> {
    const r = await this.send(this.setSlot(key), { op: "params", id: this.nextId++, key, action: "saveOptimizer" }, []);
    return r.bytes;
  }

  /** Gives parameter set `key` an optimizer restored from `bytes` (saved by saveOptimizer for the same shapes); resolves to its step count. */
  async restoreOptimizer(key: string, create: OptimizerSpec, bytes: Uint8Array): Promise<number> {
    const r = await this.send(this.setSlot(key), { op: "params", id: this.nextId++, key, action: "restoreOptimizer", create, bytes }, []);
    if (r.steps === undefined) throw kernelFailed("worker", "restoreOptimizer reply without a step count");
    return r.steps;
  }

  /** Forgets parameter set `key` (its weights, gradients and optimizer moments). */
  async forgetParams(key: string): Promise<void> {
    const slot = this.sets.get(key);
    if (slot === undefined) return;
    this.sets.delete(key);
    await this.send(slot, { op: "params", id: this.nextId++, key, action: "forget" }, []);
  }

  private setSlot(key: string): Slot {
    const slot = this.sets.get(key);
    if (slot === undefined) throw kernelFailed("unknown-model", `no parameter set "${key}": load it with setParams`);
    return slot;
  }

  /** Stashes kept in the workers right now. */
  get stashCount(): number {
    return this.stashes.size;
  }

  /** Releases the session under `key`. */
  async unload(key: string): Promise<void> {
    const placed = this.placement.get(key);
    if (placed === undefined) return;
    this.placement.delete(key);
    placed.slot.models--;
    await this.send(placed.slot, { op: "unload", id: this.nextId++, key }, []);
  }

  /** Terminates every worker (their sessions go with them); pending runs fail. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map(async (s) => {
      s.worker.removeAllListeners("exit");
      s.dead = kernelFailed("released", "kernel pool is closed");
      for (const p of s.pending.values()) p.reject(s.dead);
      s.pending.clear();
      await s.worker.terminate();
    }));
  }
}

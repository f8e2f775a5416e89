// The miner host: binds the stage-worker machine to the run feed (facts in), its writer (facts
// out), the data channel (compressed activations and gradients, inline) and the kernels (ORT stage
// forward/backward on the process's pool, AdamW, merge arithmetic on stored blobs). The
// machine decides; the host performs its effects and feeds back the results.
import { randomBytes } from "node:crypto";
import { Effect } from "effect";
import { createActor } from "xstate";
import type { Corpus } from "../../kernels/data/corpus.js";
import { type Effect as WorkerEffect, type WorkerDraft, type WorkerEvent, workerMachine } from "../../machines/worker/index.js";
import type { EventLogShape } from "../eventlog/service.js";
import type { Hotkey } from "../identity/index.js";
import type { DataChannel } from "../nats/data-channel.js";
import { BlobCorrupt, type BlobMissing, type BlobStore, f32View, getF32, OWNED } from "./blob-store.js";
import { type AdversaryKind, tamperReduction } from "./adversary.js";
import { KEPT_VERSIONS, MinerCompute } from "./compute.js";
import { type StageKernels } from "./stage-kernels.js";
import { fetchResults, reducePartition, storeSnapshot } from "./merge-io.js";
import type { FeedItem, RunFeed } from "./feed.js";
import { Mailbox } from "./mailbox.js";
import { readModel, type SwarmModel, viewsOf } from "./model.js";
import { WorkQueue } from "./work-queue.js";
import { openWriter, type ActorWriter } from "./writer.js";
import type { FactJournal } from "./journal.js";

export interface MinerHostOptions {
  readonly feed: RunFeed;
  readonly log: EventLogShape;
  readonly data: DataChannel;
  readonly blobs: BlobStore;
  /** The process's stage kernels for a run's model (shared by the miners of a process). */
  readonly kernels: (model: SwarmModel) => StageKernels;
  readonly corpus: Corpus;
  readonly hotkey: Hotkey;
  /** Self-reported throughput (routing weight); default 1. */
  readonly throughput?: number;
  /** Nonce of this start (event ids carry it); default random. */
  readonly session?: string;
  /** Seed of the session key its writer signs with (on a secured bus, the key it logged in with); default random. */
  readonly sessionSeed?: Uint8Array;
  /** The actor's journal of stored facts (refills when the bus loses some); default none. */
  readonly journal?: FactJournal;
  readonly onError?: (e: unknown) => void;
  /** An adversarial miner (sim only): what it does instead of honest work. */
  readonly adversary?: AdversaryKind;
  /** Whether another miner colludes with this one (a colluding adversary's accomplices). */
  readonly isColluder?: (miner: string) => boolean;
}

/** A running miner. */
export interface MinerHost {
  readonly id: string;
  readonly session: string;
  /** Its stage once assigned. */
  stage(): number | null;
  /** Its stage weights (a copy) as of the work queued so far, once loaded. */
  weights(): Promise<Float32Array | undefined>;
  /** Its parameters by name (views of one copy), once loaded. */
  params(): Promise<Record<string, Float32Array> | undefined>;
  /** Leaves gracefully (MinerLeft), then stops. */
  leave(reason: string): Promise<void>;
  /** Dies: stops at once without a word, as a crashed process would. */
  kill(): Promise<void>;
  /** Resolves when the miner stops (removed by the orchestrator, left, or killed). */
  readonly done: Promise<void>;
}

const PRIO = { control: 0, backward: 1, forward: 2 } as const;

/**
 * Where an effect goes in this host's order: kernel runs wait in the work queue (backward-side
 * work ahead of stage 0's forwards), everything else (steps, loads, merges, publishing) goes first.
 * `sim --deterministic` takes a miner's effects in this order.
 */
export const effectPriority = (e: WorkerEffect): number =>
  e.type === "forward" || e.type === "lastStage" ? (e.params.stage === 0 ? PRIO.forward : PRIO.backward) : e.type === "backward" ? PRIO.backward : PRIO.control;

export const startMinerHost = async (o: MinerHostOptions): Promise<MinerHost> => {
  const me = o.hotkey.address;
  const session = o.session ?? randomBytes(4).toString("hex");
  const run = o.feed.run;
  const fail = o.onError ?? ((e: unknown) => process.stderr.write(`miner ${me.slice(0, 8)}: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`));
  await o.feed.reached(await Effect.runPromise(o.log.lastSeq(run)));
  const writer: ActorWriter = await openWriter({ log: o.log, run, hotkey: o.hotkey, head: o.feed.head(me), session, step: o.feed.view().tick, ...(o.sessionSeed === undefined ? {} : { sessionSeed: o.sessionSeed }), ...(o.journal === undefined ? {} : { journal: o.journal }) });
  /** Work off the compute queue may still be running when the miner stops; its failures then are the stop's, not errors. */
  const failWhileAlive = (e: unknown): void => {
    if (alive) fail(e);
  };
  /**
   * A blob that is not its name's bytes (or a merge result deleted) was put or removed by someone
   * other than an honest writer: the work that needed it goes on without it (see fetchResults,
   * reducePartition), and it is said, not fatal.
   */
  const reportBlob = (e: BlobCorrupt | BlobMissing): void => {
    process.stderr.write(`miner ${me.slice(0, 8)}: ${e.message}; going on without it\n`);
  };
  const mail = new Mailbox();
  const queue = new WorkQueue(fail);
  let compute: MinerCompute | undefined;
  let model: SwarmModel | undefined;
  let alive = true;
  /** Set by leave: the machine is final from then on, but the host stays up until its MinerLeft is stored. */
  let leaving = false;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let pubTail: Promise<void> = Promise.resolve();
  /**
   * The reducers that agreed on each accepted result (PartitionAccepted), by merge: the copies this
   * miner reads a result from first (a hint; every copy is still checked), dropped once applied or
   * when another stage's merge completes.
   */
  const resultWriters = new Map<string, Map<number, readonly string[]>>();

  const actor = createActor(workerMachine, { input: { me, session, throughput: o.throughput ?? 1 } });
  const send = (e: WorkerEvent): void => {
    if (alive && actor.getSnapshot().status === "active") actor.send(e);
  };
  const modelOf = (): SwarmModel => {
    if (model === undefined) {
      const config = o.feed.view().config;
      if (config === null) throw new Error("the run has not started");
      model = readModel(config);
    }
    return model;
  };

  /**
   * Facts go out in the machine's order; a data-bearing fact sends its tensor first. The drafts of
   * one reaction (e.g. LossComputed, GradientsReturned, BackwardCompleted) are appended together,
   * after their tensors are sent, so they land in one signed batch: readers release a batch only at
   * its signed last event, so no peer can react to the GradientsReturned (and record its own
   * BackwardCompleted) before this stage's BackwardCompleted is in the log.
   */
  let burst: WorkerDraft[] = [];
  const publish = (d: WorkerDraft): void => {
    burst.push(d);
    if (burst.length > 1) return;
    queueMicrotask(() => {
      const ds = burst;
      burst = [];
      pubTail = pubTail.then(async () => {
        if (!alive) return;
        for (const x of ds) if (x.type === "ActivationsForwarded" || x.type === "GradientsReturned") {
          const bytes = mail.release(x.payload.ref, x.payload.lease);
          if (bytes !== undefined) await o.data.send(x.type === "ActivationsForwarded" ? "act" : "grad", me, x.payload.to, x.payload.ref, x.payload.lease, bytes);
        }
        if (!alive) return;
        for (const x of ds) {
          const appended = writer.append(x);
          const lease = (x.payload as { lease?: unknown }).lease;
          if (typeof lease === "string") void appended.then(() => mail.recorded(lease), () => undefined);
          appended.catch((e: unknown) => {
            fail(e);
            void stop();
          });
        }
      }).catch(fail);
    });
  };

  const input = async (ref: string | null, lease: string): Promise<Uint8Array | null | undefined> =>
    ref === null ? null : mail.take(ref, lease);

  // How an effect runs. One of three policies, each failing the same way:
  // - `queued`: compute on the miner's kernel worker, in priority order (control work first, then
  //   backward passes, then new forwards), so a step or a weights load is atomic with the passes;
  //   pipeline passes first wait for their input in the mailbox, and a lease that closed meanwhile
  //   drops its pass. Skipped once the miner has no stage compute (or is dead, for passes).
  // - `beside`: merge and weights I/O (snapshots, partitions, reductions, stores) that reads the
  //   weights in the worker's order but does not hold the compute queue, so training goes on.
  // Failures go to `fail`, except work beside the queue that fails after the miner was killed.
  const queued = (prio: number, job: (c: MinerCompute) => Promise<void>, onlyAlive = true): void =>
    queue.push(prio, async () => {
      const c = compute;
      if (c !== undefined && (alive || !onlyAlive)) await job(c);
    });
  const pipelined = (prio: number, ready: Promise<Uint8Array | null | undefined>, job: (c: MinerCompute, wire: Uint8Array | null) => Promise<void>): void => {
    void ready.then((wire) => {
      if (wire !== undefined) queued(prio, (c) => job(c, wire));
    }, fail);
  };
  const beside = (job: (c: MinerCompute) => Promise<void>): void => {
    const c = compute;
    if (c !== undefined) void job(c).catch(failWhileAlive);
  };

  const perform = (e: WorkerEffect): void => {
    switch (e.type) {
      case "publish":
        return publish(e.params);
      case "forward": {
        const w = e.params;
        return pipelined(effectPriority(e), input(w.input, w.lease), async (c, wire) => {
          const out = await c.forward(w.lease, w.batch, wire);
          mail.hold(out.ref, out.bytes, w.lease);
          send({ type: "forward.done", lease: w.lease, stage: w.stage, ref: out.ref, bytes: out.bytes.length, weights: out.weights });
        });
      }
      case "lastStage": {
        const w = e.params;
        return pipelined(effectPriority(e), input(w.input, w.lease), async (c, wire) => {
          const r = await c.lastStage(w.batch, wire);
          if (r.grad !== null) mail.hold(r.grad.ref, r.grad.bytes, w.lease);
          send({ type: "loss.done", lease: w.lease, stage: w.stage, loss: r.loss, tokens: r.tokens, ref: r.grad?.ref ?? "", bytes: r.grad?.bytes.length ?? 0, weights: r.weights });
        });
      }
      case "backward": {
        const w = e.params;
        return pipelined(PRIO.backward, mail.take(w.grad, w.lease), async (c, wire) => {
          const g = await c.backward(w.lease, wire as Uint8Array);
          if (g !== null) mail.hold(g.ref, g.bytes, w.lease);
          send({ type: "backward.done", lease: w.lease, stage: w.stage, ref: g?.ref ?? "", bytes: g?.bytes.length ?? 0 });
        });
      }
      case "stepOptimizer": {
        // The worker decided the step (which leases, which learning rate); the host only performs it.
        const p = e.params;
        return queued(PRIO.control, async (c) => {
          await c.step(p.leases.length, p.lr ?? modelOf().optim.lr);
          send({ type: "step.done", step: p.step, leases: p.leases, lr: p.lr });
        }, false);
      }
      case "loadWeights":
        return loadWeights(e.params);
      case "openWeights": {
        const p = e.params;
        return beside(async (c) => {
          const w = await c.opened(p.weights);
          if (w !== undefined) await o.blobs.put(f32View(w), OWNED);
          // Said, not silent: the check then goes unanswered and fails this miner at its deadline.
          else process.stderr.write(`miner ${me.slice(0, 8)}: cannot open weights ${p.weights.slice(0, 12)} for check ${p.check}: no longer kept (more than ${KEPT_VERSIONS} versions since) or never kept\n`);
          send({ type: "weights.opened", weights: p.weights, check: p.check, ok: w !== undefined });
        });
      }
      case "snapshotWeights":
        return beside(async (c) => { await c.snapshot(e.params.merge); });
      case "sendPartitions": {
        const p = e.params;
        // The snapshot is read in the worker's order (between two of its runs or steps).
        return beside(async (c) => {
          const { refs, bytes } = await storeSnapshot(o.blobs, c, me, p);
          send({ type: "partitions.sent", merge: p.merge, refs, bytes });
        });
      }
      case "reduce": {
        // A reduction reads only the contributors' blobs: it needs no stage compute of its own.
        const t = e.params;
        const tamper = o.adversary === undefined ? undefined : (x: Float32Array) => tamperReduction(o.adversary, me, t, o.isColluder ?? (() => false), x);
        void reducePartition(o.blobs, t, reportBlob, tamper).then((hash) => send({ type: "reduce.done", merge: t.merge, partition: t.partition, hash })).catch(failWhileAlive);
        return;
      }
      case "storeWeights": {
        const p = e.params;
        return beside(async (c) => {
          const w = await c.weights();
          if (w !== undefined) send({ type: "weights.stored", stage: p.stage, epoch: p.epoch, ref: await o.blobs.put(f32View(w), OWNED) });
        });
      }
      case "applyMerge": {
        const p = e.params;
        // Results are fetched, blended into the weights in the worker's order (atomic with this
        // miner's steps) and the new weights stored.
        return beside(async (c) => {
          const got = await fetchResults(o.blobs, c.layout.size, p.results, p.outer, reportBlob, (i) => resultWriters.get(p.merge)?.get(i) ?? []);
          resultWriters.delete(p.merge);
          const w = await c.adopt(p.merge, got, p.overlap);
          if (w === undefined) return;
          // An overlapped merge whose partitions were all accepted has its results, end to end, as
          // its consensus: the store may name them rather than hold the weights a second time.
          const parts = p.overlap && !p.outer && p.results.every((r) => r !== null) ? { parts: p.results as string[] } : {};
          const ref = await o.blobs.put(f32View(w), { ...OWNED, ...parts });
          const state = p.storeOptimizer ? await c.saveOptimizer() : undefined;
          const optimizer = state === undefined ? undefined : await o.blobs.put(state, OWNED);
          send({ type: "weights.loaded", stage: p.stage, epoch: p.epoch, ref, ...(optimizer === undefined ? {} : { optimizer }) });
        });
      }
    }
  };

  /** Loading a stage's weights creates the stage compute, so it is control work that needs none yet. */
  const loadWeights = (p: Extract<WorkerEffect, { type: "loadWeights" }>["params"]): void =>
    queue.push(PRIO.control, async () => {
      const m = modelOf();
      compute ??= new MinerCompute(o.kernels(m), m, o.corpus, p.stage, o.adversary);
      await compute.setWeights(await getF32(o.blobs, p.ref));
      // The stage's stored AdamW state, when the log names one: a joiner does not start cold.
      // A state that is missing, corrupt or does not fit is reported and the miner starts a fresh one.
      const state = p.optimizer === undefined ? undefined : await o.blobs.get(p.optimizer).catch((e: unknown) => {
        if (e instanceof BlobCorrupt) reportBlob(e);
        else fail(e);
        return undefined;
      });
      const restored = state !== undefined && (await compute.restoreOptimizer(state).then(() => true, (e: unknown) => { fail(e); return false; }));
      // Its WeightsLoaded names the optimizer state it now holds, if it took one over.
      send({ type: "weights.loaded", stage: p.stage, epoch: p.epoch, ref: p.ref, ...(restored && p.optimizer !== undefined ? { optimizer: p.optimizer, optimizerSteps: compute.optimizerSteps } : {}) });
    });

  actor.on("*", (e) => {
    if (alive) perform(e as WorkerEffect);
  });

  const onFact = (item: FeedItem): void => {
    const f = item.fact;
    if (f.type === "PartitionAccepted") {
      const byPartition = resultWriters.get(f.payload.merge) ?? new Map<number, readonly string[]>();
      byPartition.set(f.payload.partition, f.payload.reducers);
      resultWriters.set(f.payload.merge, byPartition);
    } else if (f.type === "MergeCompleted" && f.payload.stage !== compute?.stage) resultWriters.delete(f.payload.merge);
    if (f.type === "MicrobatchCompleted" || f.type === "MicrobatchReissued") {
      mail.close(f.payload.lease);
      compute?.drop(f.payload.lease);
    }
    send({ type: "fact", fact: f, view: item.view });
    // Removed (timed out or kicked): the machine is final, so the host stops. After a leave the
    // machine is final too, but leave stops the host itself once its MinerLeft is stored: a fact
    // delivered between the leave and that append (the feed hands buffered facts over between
    // microtasks) must not cut it off.
    if (alive && !leaving && actor.getSnapshot().status !== "active") void stop();
  };

  const stopData = await o.data.receive(me, `d-${me.slice(0, 12)}-${session}`, (m) => mail.receive(m));
  actor.start();
  const unlisten = o.feed.listen(onFact);
  const last = o.feed.lastFact();
  if (last !== undefined) send({ type: "fact", fact: last, view: o.feed.view() });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      alive = false;
      unlisten();
      queue.stop();
      actor.stop();
      await stopData().catch(() => undefined);
      await compute?.release().catch(() => undefined);
      finish();
    })());

  return {
    id: me,
    session,
    stage: () => compute?.stage ?? null,
    weights: async () => compute?.weights(),
    params: async () => {
      const c = compute;
      const w = await c?.weights();
      return c === undefined || w === undefined ? undefined : viewsOf(c.layout, w);
    },
    leave: async (reason) => {
      leaving = true;
      send({ type: "leave", reason });
      await new Promise<void>((r) => queueMicrotask(r)); // the reaction's burst joins pubTail first
      await pubTail;
      await writer.drain();
      await stop();
    },
    kill: stop,
    done,
  };
};

// The miner host: binds the stage-worker machine to the run feed (facts in), its writer (facts
// out), the data channel (compressed activations and gradients, inline) and the kernels (ORT stage
// forward/backward on the process's pool, AdamW, merge arithmetic on Object Store blobs). The
// machine decides; the host performs its effects and feeds back the results.
import { randomBytes } from "node:crypto";
import { Effect } from "effect";
import { createActor } from "xstate";
import type { Corpus } from "../../kernels/data/corpus.js";
import { partitionBounds } from "../../machines/protocol/index.js";
import { type Effect as WorkerEffect, type WorkerDraft, type WorkerEvent, workerMachine } from "../../machines/worker/index.js";
import type { EventLogShape } from "../eventlog/service.js";
import type { Hotkey } from "../identity/index.js";
import type { DataChannel } from "../nats/data-channel.js";
import { type BlobStore, f32View, getF32 } from "./blob-store.js";
import { fetchResults, MinerCompute, putPartitions, reducePartition, type StageKernels } from "./compute.js";
import type { FeedItem, RunFeed } from "./feed.js";
import { Mailbox } from "./mailbox.js";
import { readModel, type SwarmModel, viewsOf } from "./model.js";
import { WorkQueue } from "./work-queue.js";
import { openWriter, type ActorWriter } from "./writer.js";

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
  readonly onError?: (e: unknown) => void;
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

export const startMinerHost = async (o: MinerHostOptions): Promise<MinerHost> => {
  const me = o.hotkey.address;
  const session = o.session ?? randomBytes(4).toString("hex");
  const run = o.feed.run;
  const fail = o.onError ?? ((e: unknown) => process.stderr.write(`miner ${me.slice(0, 8)}: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`));
  await o.feed.reached(await Effect.runPromise(o.log.lastSeq(run)));
  const writer: ActorWriter = await openWriter({ log: o.log, run, hotkey: o.hotkey, head: o.feed.head(me), session, step: o.feed.view().tick });
  /** Work off the compute queue may still be running when the miner stops; its failures then are the stop's, not errors. */
  const failWhileAlive = (e: unknown): void => {
    if (alive) fail(e);
  };
  const mail = new Mailbox();
  const queue = new WorkQueue(fail);
  let compute: MinerCompute | undefined;
  let model: SwarmModel | undefined;
  let alive = true;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let pubTail: Promise<void> = Promise.resolve();

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
          const bytes = mail.release(x.payload.ref);
          if (bytes !== undefined) await o.data.send(x.type === "ActivationsForwarded" ? "act" : "grad", x.payload.to, x.payload.ref, x.payload.lease, bytes);
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

  const perform = (e: WorkerEffect): void => {
    switch (e.type) {
      case "publish":
        return publish(e.params);
      case "forward":
      case "lastStage": {
        const w = e.params;
        void input(w.input, w.lease).then((wire) => {
          if (wire === undefined) return; // the lease closed before its activations came
          queue.push(w.stage === 0 ? PRIO.forward : PRIO.backward, async () => {
            const c = compute;
            if (c === undefined || !alive) return;
            if (e.type === "forward") {
              const out = await c.forward(w.lease, w.batch, wire);
              mail.hold(out.ref, out.bytes, w.lease);
              send({ type: "forward.done", lease: w.lease, stage: w.stage, ref: out.ref, bytes: out.bytes.length });
            } else {
              const r = await c.lastStage(w.batch, wire);
              if (r.grad !== null) mail.hold(r.grad.ref, r.grad.bytes, w.lease);
              send({ type: "loss.done", lease: w.lease, stage: w.stage, loss: r.loss, tokens: r.tokens, ref: r.grad?.ref ?? "", bytes: r.grad?.bytes.length ?? 0 });
            }
          });
        }, fail);
        return;
      }
      case "backward": {
        const w = e.params;
        void mail.take(w.grad, w.lease).then((wire) => {
          if (wire === undefined) return;
          queue.push(PRIO.backward, async () => {
            const c = compute;
            if (c === undefined || !alive) return;
            const g = await c.backward(w.lease, wire);
            if (g !== null) mail.hold(g.ref, g.bytes, w.lease);
            send({ type: "backward.done", lease: w.lease, stage: w.stage, ref: g?.ref ?? "", bytes: g?.bytes.length ?? 0 });
          });
        }, fail);
        return;
      }
      case "stepOptimizer": {
        const p = e.params;
        const view = o.feed.view();
        const per = view.config?.schedule.microbatchesPerStep ?? 1;
        // The schedule follows the run's global progress, read when the step is decided.
        const globalStep = Math.floor(view.counters.completed / per);
        queue.push(PRIO.control, async () => {
          // A deferred step (compute.step returns 0) records nothing; the next one covers its microbatches.
          const n = (await compute?.step(globalStep)) ?? 0;
          if (n > 0) send({ type: "step.done", step: p.step, microbatches: n });
        });
        return;
      }
      case "snapshotWeights": {
        void compute?.snapshot(e.params.merge).catch(failWhileAlive);
        return;
      }
      case "sendPartitions": {
        const p = e.params;
        const c = compute;
        if (c === undefined) return;
        // The snapshot is read in the worker's order (between two of its runs or steps); neither it
        // nor storing it holds this miner's compute queue.
        void c.snapshot(p.merge).then(async (snap) => {
          const refs = await putPartitions(o.blobs, snap, p.partitions);
          // Each partition's bytes to each of its reducers other than this miner.
          const bytes = partitionBounds(snap.length, p.partitions).reduce((s, q, i) => s + (q.end - q.start) * 4 * (p.reducers[i] ?? []).filter((r) => r !== me).length, 0);
          send({ type: "partitions.sent", merge: p.merge, refs, bytes });
        }).catch(failWhileAlive);
        return;
      }
      case "reduce": {
        const t = e.params;
        void reducePartition(o.blobs, t).then((hash) => send({ type: "reduce.done", merge: t.merge, partition: t.partition, hash }), fail);
        return;
      }
      case "loadWeights": {
        const p = e.params;
        queue.push(PRIO.control, async () => {
          const m = modelOf();
          compute ??= new MinerCompute(o.kernels(m), m, o.corpus, p.stage);
          await compute.setWeights(await getF32(o.blobs, p.ref));
          // The stage's stored AdamW state, when the log names one: a joiner does not start cold.
          // A state that is missing, corrupt or does not fit is reported and the miner starts a fresh one.
          const state = p.optimizer === undefined ? undefined : await o.blobs.get(p.optimizer).catch((e: unknown) => { fail(e); return undefined; });
          const restored = state !== undefined && (await compute.restoreOptimizer(state).then(() => true, (e: unknown) => { fail(e); return false; }));
          // Its WeightsLoaded names the optimizer state it now holds, if it took one over.
          send({ type: "weights.loaded", stage: p.stage, epoch: p.epoch, ref: p.ref, ...(restored && p.optimizer !== undefined ? { optimizer: p.optimizer } : {}) });
        });
        return;
      }
      case "storeWeights": {
        const p = e.params;
        const c = compute;
        if (c === undefined) return;
        void c.weights().then(async (w) => {
          if (w === undefined) return;
          send({ type: "weights.stored", stage: p.stage, epoch: p.epoch, ref: await o.blobs.put(f32View(w)) });
        }).catch(failWhileAlive);
        return;
      }
      case "applyMerge": {
        const p = e.params;
        const c = compute;
        if (c === undefined) return;
        // Results are fetched, blended into the weights in the worker's order (atomic with this
        // miner's steps) and the new weights stored, all without holding the compute queue.
        void fetchResults(o.blobs, c.layout.size, p.results, p.outer)
          .then((got) => c.adopt(p.merge, got, p.overlap))
          .then(async (w) => {
            if (w === undefined) return;
            const ref = await o.blobs.put(f32View(w));
            const state = p.storeOptimizer ? await c.saveOptimizer() : undefined;
            const optimizer = state === undefined ? undefined : await o.blobs.put(state);
            send({ type: "weights.loaded", stage: p.stage, epoch: p.epoch, ref, ...(optimizer === undefined ? {} : { optimizer }) });
          })
          .catch(failWhileAlive);
        return;
      }
    }
  };

  actor.on("*", (e) => {
    if (alive) perform(e as WorkerEffect);
  });

  const onFact = (item: FeedItem): void => {
    const f = item.fact;
    if (f.type === "MicrobatchCompleted" || f.type === "MicrobatchReissued") {
      mail.close(f.payload.lease);
      compute?.drop(f.payload.lease);
    }
    send({ type: "fact", fact: f, view: item.view });
    if (alive && actor.getSnapshot().status !== "active") void stop();
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

// A pure end-to-end swarm simulation: one orchestrator decider and N stage-worker machines in one
// loop over an in-memory ordered log, with a logical clock, a fake compute model and seeded fault
// injection (kills, dropout, rejoins, dropped/duplicated/delayed/reordered deliveries, orchestrator
// crashes mid-batch). `swarmline sim` replaces the log with NATS and the compute with kernels;
// roles still talk only through facts.
import { Result } from "effect";
import { createActor } from "xstate";
import type { SwarmFact, SwarmRunConfig } from "../../events/swarm/index.js";
import { asFact, checkInvariants, decide, type Decision, evolve, fold, initialState, type OrchestratorState, type ScheduleReport } from "../orchestrator/index.js";
import { rngFor, type Rng } from "../protocol/index.js";
import { type Effect, type WorkerDraft, type WorkerEvent, workerMachine } from "../worker/index.js";
import { type ComputeModel, fakeCompute, initialWeights, memoryBlobs } from "./compute.js";

export interface SimMiner {
  readonly id: string;
  /** Effects the miner performs per tick. */
  readonly capacity: number;
  readonly joinTick?: number;
  readonly killTick?: number;
  /** Ticks after a kill (or dropout) before the miner restarts and rejoins; absent = never. */
  readonly rejoinAfter?: number;
}

/**
 * Faults on deliveries to workers. Drop, delay and reorder hit peer-to-peer data messages
 * (ActivationsForwarded, GradientsReturned: the data stream); facts of the durable log are
 * delivered in order but may be redelivered (duplicate), as a JetStream consumer would see them.
 */
export interface DeliveryFaults {
  /** Probability a data message is not delivered. */
  readonly drop?: number;
  /** Probability a fact is delivered twice. */
  readonly duplicate?: number;
  /** Probability a delivery is delayed by 1..maxDelay ticks. */
  readonly delay?: number;
  readonly maxDelay?: number;
  /** Shuffle each worker's deliveries within a round. */
  readonly reorder?: boolean;
}

export interface SimOptions {
  readonly config: Omit<SwarmRunConfig, "orchestrator" | "stages"> & { readonly params: readonly number[] };
  readonly miners: readonly SimMiner[];
  readonly maxTicks: number;
  /** Per tick, per live miner, probability it dies. */
  readonly dropout?: number;
  readonly faults?: DeliveryFaults;
  /** Orchestrator crashes: at `tick`, its batch after the tick is cut after `after` decisions, then it refolds the log. */
  readonly crashes?: readonly { readonly tick: number; readonly after: number }[];
  readonly wrongReducers?: readonly string[];
  /** Replace the fake compute (a host seam); defaults to fakeCompute. */
  readonly compute?: ComputeModel;
}

export interface SimResult {
  readonly log: readonly SwarmFact[];
  readonly state: OrchestratorState;
  readonly schedule: ScheduleReport;
  readonly ticks: number;
  /** Merge bytes each miner sent (its PartitionsSent bytes plus results it published), by miner. */
  readonly mergeBytesSent: Readonly<Record<string, number>>;
}

const ORCHESTRATOR = "orchestrator";

interface Host {
  actor: ReturnType<typeof createActor<typeof workerMachine>>;
  readonly miner: SimMiner;
  alive: boolean;
  jobs: Effect[];
  inbox: { due: number; event: WorkerEvent }[];
}

/** Runs a swarm to completion (or maxTicks) and returns its log. Deterministic given the options. */
export const simulate = (o: SimOptions): SimResult => {
  const seed = o.config.seed;
  const blobs = memoryBlobs();
  const stages = o.config.params.map((n, s) => ({ params: n, weights: blobs.put(initialWeights(seed, s, n)) }));
  const config: SwarmRunConfig = { ...o.config, orchestrator: ORCHESTRATOR, stages };
  const compute = o.compute ?? fakeCompute({ seed, params: o.config.params, tokensPerMicrobatch: o.config.schedule.tokensPerMicrobatch, wrongReducers: o.wrongReducers ?? [] }, blobs);
  const faults = o.faults ?? {};
  const log: SwarmFact[] = [];
  const seqs = new Map<string, number>();
  const hosts = new Map<string, Host>();
  const mergeBytesSent: Record<string, number> = {};
  let view = initialState(); // every host's fold of the log (shared: it is the same fold)
  let orch = initialState(); // the orchestrator's own state; refolded from the log on a crash
  let tick = 0;
  let cut: number | null = null; // decisions left before a pending crash
  const rng = (purpose: string, ...k: (string | number)[]): Rng => rngFor(seed, `sim:${purpose}`, ...k);

  const appendFact = (actor: string, d: Decision | WorkerDraft): void => {
    const seq = (seqs.get(actor) ?? 0) + 1;
    seqs.set(actor, seq);
    const fact = asFact(d as Decision, actor, seq);
    log.push(fact);
    view = evolve(view, fact);
    orch = evolve(orch, fact);
    if (fact.type === "PartitionsSent") mergeBytesSent[actor] = (mergeBytesSent[actor] ?? 0) + fact.payload.bytes;
    if (fact.type === "PartitionReduced") mergeBytesSent[actor] = (mergeBytesSent[actor] ?? 0) + 4 * partitionSize(fact.payload.merge, fact.payload.partition);
    const snapshot = view;
    for (const h of hosts.values()) if (h.alive) deliver(h, fact, snapshot);
    if (actor !== ORCHESTRATOR) advance();
  };

  const partitionSize = (merge: string, partition: number): number => {
    const started = log.find((f) => f.id === merge);
    if (started?.type !== "MergeStarted") return 0;
    const n = config.stages[started.payload.stage]?.params ?? 0;
    const p = started.payload.partitions;
    return Math.floor(n / p) + (partition < n % p ? 1 : 0);
  };

  const deliver = (h: Host, fact: SwarmFact, snapshot: OrchestratorState): void => {
    const r = rng("deliver", fact.id, h.miner.id);
    const data = fact.type === "ActivationsForwarded" || fact.type === "GradientsReturned";
    if (data && r.float() < (faults.drop ?? 0)) return;
    const copies = r.float() < (faults.duplicate ?? 0) ? 2 : 1;
    const delayed = data && r.float() < (faults.delay ?? 0) ? 1 + r.int(faults.maxDelay ?? 3) : 0;
    for (let i = 0; i < copies; i++) h.inbox.push({ due: tick + delayed, event: { type: "fact", fact, view: snapshot } });
  };

  const orchestrate = (command: Parameters<typeof decide>[0]): void => {
    const r = decide(command, orch);
    if (Result.isFailure(r)) return;
    for (const d of r.success) {
      if (cut !== null) {
        if (cut === 0) {
          cut = null;
          orch = fold(log, initialState()); // crash: the in-memory state is lost; refold the log
          advance();
          return;
        }
        cut -= 1;
      }
      appendFact(ORCHESTRATOR, d);
    }
  };
  const advance = (): void => orchestrate({ type: "Advance" });

  const start = (m: SimMiner, restart: number): void => {
    const host: Host = { actor: undefined as unknown as Host["actor"], miner: m, alive: true, jobs: [], inbox: [] };
    const actor = createActor(workerMachine, { input: { me: m.id, session: `s${restart}`, throughput: m.capacity } });
    actor.on("*", (e) => {
      if (host.alive) host.jobs.push(e as Effect);
    });
    host.actor = actor;
    hosts.set(m.id, host);
    actor.start();
    // A joiner reads the log from the beginning, like a fresh consumer, then receives live facts.
    for (const f of log) host.inbox.push({ due: tick, event: { type: "fact", fact: f, view } });
  };

  const perform = (h: Host, e: Effect): void => {
    const me = h.miner.id;
    const send = (ev: WorkerEvent) => h.actor.send(ev);
    switch (e.type) {
      case "publish": return appendFact(me, e.params);
      case "forward": return send({ type: "forward.done", lease: e.params.lease, stage: e.params.stage, ...compute.forward(me, e.params) });
      case "lastStage": return send({ type: "loss.done", lease: e.params.lease, stage: e.params.stage, ...compute.lastStage(me, e.params) });
      case "backward": return send({ type: "backward.done", lease: e.params.lease, stage: e.params.stage, ...compute.backward(me, e.params) });
      case "stepOptimizer": compute.step(me, e.params); return send({ type: "step.done", step: e.params.step, microbatches: e.params.microbatches });
      case "snapshotWeights": return compute.snapshot(me, e.params);
      case "sendPartitions": return send({ type: "partitions.sent", merge: e.params.merge, ...compute.sendPartitions(me, e.params) });
      case "reduce": return send({ type: "reduce.done", merge: e.params.merge, partition: e.params.partition, hash: compute.reduce(me, e.params) });
      case "loadWeights": return send({ type: "weights.loaded", stage: e.params.stage, epoch: e.params.epoch, ref: compute.load(me, e.params) });
      case "storeWeights": return send({ type: "weights.stored", stage: e.params.stage, epoch: e.params.epoch, ref: compute.store(me, e.params) });
      case "applyMerge": return send({ type: "weights.loaded", stage: e.params.stage, epoch: e.params.epoch, ref: compute.applyMerge(me, e.params) });
    }
  };

  const kill = (h: Host): void => {
    h.alive = false;
    h.jobs = [];
    h.inbox = [];
    h.actor.stop();
  };

  orchestrate({ type: "StartRun", config });
  const restarts = new Map<string, { at: number; count: number }>();
  for (tick = 1; tick <= o.maxTicks && !orch.done; tick++) {
    // The tick, then what it calls for (timeouts, expiries, deadlines); a crash cuts that batch.
    orchestrate({ type: "Tick" });
    const crash = o.crashes?.find((c) => c.tick === tick);
    if (crash !== undefined) cut = crash.after;
    advance();
    if (cut !== null) {
      cut = null;
      orch = fold(log, initialState()); // the crash came after the whole batch: refold all the same
    }
    for (const m of o.miners) {
      const h = hosts.get(m.id);
      if (h === undefined && (m.joinTick ?? 1) === tick) start(m, 0);
      const dies = h?.alive === true && (m.killTick === tick || rng("dropout", tick, m.id).float() < (o.dropout ?? 0));
      if (h !== undefined && dies) {
        kill(h);
        if (m.rejoinAfter !== undefined) restarts.set(m.id, { at: tick + m.rejoinAfter, count: (restarts.get(m.id)?.count ?? 0) + 1 });
      }
      const re = restarts.get(m.id);
      if (h !== undefined && !h.alive && re !== undefined && re.at === tick) start(m, re.count);
    }
    // Rounds within a tick: deliver what is due, then spend compute capacity, until quiet.
    const budget = new Map<string, number>([...hosts.values()].map((h) => [h.miner.id, h.miner.capacity]));
    for (let round = 0; round < 1000; round++) {
      let busy = false;
      for (const h of [...hosts.values()].sort((a, b) => (a.miner.id < b.miner.id ? -1 : 1))) {
        if (!h.alive) continue;
        let due = h.inbox.filter((x) => x.due <= tick);
        if (due.length > 0) {
          h.inbox = h.inbox.filter((x) => x.due > tick);
          if (faults.reorder === true) due = reorderData(due, rng("reorder", tick, round, h.miner.id));
          for (const x of due) {
            if (!h.alive) break;
            h.actor.send(x.event);
            if (h.actor.getSnapshot().status !== "active") h.alive = false; // left, kicked or timed out
          }
          busy = true;
        }
        while (h.alive && h.jobs.length > 0) {
          const job = h.jobs[0] as Effect;
          const free = job.type === "publish";
          if (!free && (budget.get(h.miner.id) ?? 0) <= 0) break;
          h.jobs.shift();
          if (!free) budget.set(h.miner.id, (budget.get(h.miner.id) ?? 0) - 1);
          perform(h, job);
          busy = true;
        }
      }
      if (!busy) break;
    }
  }
  return { log, state: orch, schedule: checkInvariants(log), ticks: tick - 1, mergeBytesSent };
};

/** Shuffles the data messages among themselves, keeping log facts in place. */
const reorderData = (xs: { due: number; event: WorkerEvent }[], r: Rng): { due: number; event: WorkerEvent }[] => {
  const isData = (x: { event: WorkerEvent }) => x.event.type === "fact" && (x.event.fact.type === "ActivationsForwarded" || x.event.fact.type === "GradientsReturned");
  const shuffled = shuffle(xs.filter(isData), r);
  let k = 0;
  return xs.map((x) => (isData(x) ? (shuffled[k++] as typeof x) : x));
};

const shuffle = <T>(xs: T[], r: Rng): T[] => {
  const out = xs.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
};

// A pure end-to-end swarm simulation: one orchestrator decider and N stage-worker machines in one
// loop over an in-memory ordered log, with a logical clock, a fake compute model and seeded fault
// injection (kills, dropout, rejoins, dropped/duplicated/delayed/reordered deliveries, orchestrator
// crashes mid-batch). `swarmline sim` replaces the log with NATS and the compute with kernels;
// `swarmline sim --deterministic` keeps this loop and awaits real kernels at its compute seam.
// Roles still talk only through facts.
import { Result } from "effect";
import { createActor } from "xstate";
import type { SwarmFact, SwarmRunConfig } from "../../events/swarm/index.js";
import { asFact, checkInvariants, decide, type Decision, evolve, fold, initialState, type OrchestratorState, type ScheduleReport } from "../orchestrator/index.js";
import { rngFor, type Rng, shuffled } from "../protocol/index.js";
import { decideScorer, evidenceOf, evolveScorer, initialScorerState, type ScorerState, type ScoringSettings } from "../scorer/index.js";
import { type Effect, type WorkerDraft, type WorkerEvent, workerMachine } from "../worker/index.js";
import { type AdversaryKind, type AsyncComputeModel, type CheckOutcome, type ComputeModel, fakeCompute, initialWeights, type Loaded, memoryBlobs } from "./compute.js";
import type { WorkEvidence } from "../scorer/index.js";

export interface SimMiner {
  readonly id: string;
  /** Effects the miner performs per tick. */
  readonly capacity: number;
  readonly joinTick?: number;
  readonly killTick?: number;
  /** Killed (once) at the first tick boundary where this holds of the orchestrator's state (e.g. a count of completed microbatches). */
  readonly killWhen?: (view: OrchestratorState) => boolean;
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
  /** Adversarial miners by id (fakeCompute's behaviours). */
  readonly adversaries?: Readonly<Record<string, AdversaryKind>>;
  /**
   * A validator scoring the run: it records `settings` once the run starts, draws spot checks as
   * windows close, re-executes each once its miner opened the weights it names (or `checkAfterTicks`, default 30, after the draw),
   * and scores each window. Its re-execution is the fake compute's `check` unless `check` is given.
   */
  readonly validator?: { readonly id: string; readonly settings: ScoringSettings; readonly checkAfterTicks?: number; readonly check?: (e: WorkEvidence) => CheckOutcome };
  /** Replace the fake compute (a host seam); defaults to fakeCompute. */
  readonly compute?: ComputeModel;
  /** The orchestrator's actor id (default "orchestrator"; a signed log names it by its hotkey). */
  readonly orchestrator?: string;
  /**
   * Called with each fact as it is appended, returning it with its envelope hash (a caller that
   * signs the log as it grows): folds then see the hash a reader of the signed log sees (a
   * validator's beacon).
   */
  readonly seal?: (fact: SwarmFact) => SwarmFact;
}

/**
 * The loop with a compute seam that may be asynchronous (real kernels): each effect is awaited
 * before the loop goes on, so the order of everything stays the loop's own and a run is as
 * deterministic as its compute.
 */
export interface AsyncSimOptions extends Omit<SimOptions, "compute" | "validator"> {
  readonly compute?: AsyncComputeModel;
  readonly validator?: Omit<NonNullable<SimOptions["validator"]>, "check"> & { readonly check?: (e: WorkEvidence) => CheckOutcome | Promise<CheckOutcome> };
  /** Awaited after each tick's rounds (e.g. to evaluate the model the miners hold at that point). */
  readonly afterTick?: (tick: number, view: OrchestratorState) => void | Promise<void>;
  /**
   * The order a miner takes its pending effects in, lowest first, stable (a host's work queue:
   * an optimizer step ahead of queued kernel runs, so it sums exactly the passes it names); default
   * first in, first out.
   */
  readonly priority?: (e: Effect) => number;
  /** Fixed stage configs (params and initial weights ref) instead of fake weights of `config.params`. */
  readonly stages?: SwarmRunConfig["stages"];
}

export interface SimResult {
  readonly log: readonly SwarmFact[];
  readonly state: OrchestratorState;
  readonly schedule: ScheduleReport;
  readonly ticks: number;
  /** Merge bytes each miner sent (its PartitionsSent bytes plus results it published), by miner. */
  readonly mergeBytesSent: Readonly<Record<string, number>>;
  /** The validator's final state, when one ran. */
  readonly scorer?: ScorerState;
}


interface Host {
  actor: ReturnType<typeof createActor<typeof workerMachine>>;
  readonly miner: SimMiner;
  alive: boolean;
  jobs: Effect[];
  inbox: { due: number; event: WorkerEvent }[];
}

/** Something the loop waits for: a compute effect or a check (synchronous in the pure sim). */
type Pending = () => unknown;
type Loop<T = void> = Generator<Pending, T, unknown>;
function* wait<T>(f: () => T | Promise<T>): Loop<T> {
  return (yield f) as T;
}

/** Runs a swarm to completion (or maxTicks) and returns its log. Deterministic given the options. */
export const simulate = (o: SimOptions): SimResult => {
  const loop = simulation(o);
  for (let r = loop.next(); ; ) {
    if (r.done === true) return r.value;
    const v = r.value();
    if (v instanceof Promise) throw new TypeError("simulate: the compute model returned a promise; use simulateAsync");
    r = loop.next(v);
  }
};

/** `simulate` with an asynchronous compute model: each effect is awaited in the loop's order. */
export const simulateAsync = async (o: AsyncSimOptions): Promise<SimResult> => {
  const loop = simulation(o);
  for (let r = loop.next(); ; ) {
    if (r.done === true) return r.value;
    r = loop.next(await r.value());
  }
};

function* simulation(o: AsyncSimOptions): Loop<SimResult> {
  const seed = o.config.seed;
  const blobs = memoryBlobs();
  const stages = o.stages ?? o.config.params.map((n, s) => ({ params: n, weights: blobs.put(initialWeights(seed, s, n)) }));
  const ORCHESTRATOR = o.orchestrator ?? "orchestrator";
  const config: SwarmRunConfig = { ...o.config, orchestrator: ORCHESTRATOR, stages };
  let fake: ReturnType<typeof fakeCompute> | undefined;
  const fakeOf = (): ReturnType<typeof fakeCompute> =>
    (fake ??= fakeCompute({ seed, params: o.config.params, tokensPerMicrobatch: o.config.schedule.tokensPerMicrobatch, wrongReducers: o.wrongReducers ?? [], adversaries: o.adversaries ?? {} }, blobs));
  const compute: AsyncComputeModel = o.compute ?? fakeOf();
  const validator = o.validator;
  const checkWork = validator?.check ?? ((e: WorkEvidence) => fakeOf().check(e));
  let scorer = validator === undefined ? undefined : initialScorerState(validator.id);
  /** Drawn windows whose checks the validator has yet to judge: window -> tick of the draw. */
  const pendingChecks = new Map<number, number>();
  /** Checks ("drawId#index") whose miner opened the weights they name. */
  const openedChecks = new Set<string>();
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
    const unsealed = asFact(d as Decision, actor, seq);
    const fact = o.seal === undefined ? unsealed : o.seal(unsealed);
    log.push(fact);
    view = evolve(view, fact);
    orch = evolve(orch, fact);
    if (scorer !== undefined) scorer = evolveScorer(scorer, fact, view);
    if (validator !== undefined && actor === validator.id && fact.type === "SpotChecksDrawn") pendingChecks.set(fact.payload.window, tick);
    if (fact.type === "WeightsOpened") openedChecks.add(fact.payload.check);
    if (fact.type === "PartitionsSent") mergeBytesSent[actor] = (mergeBytesSent[actor] ?? 0) + fact.payload.bytes;
    if (fact.type === "PartitionReduced") mergeBytesSent[actor] = (mergeBytesSent[actor] ?? 0) + 4 * partitionSize(fact.payload.merge, fact.payload.partition);
    const snapshot = view;
    for (const h of hosts.values()) if (h.alive) deliver(h, fact, snapshot);
    if (actor !== ORCHESTRATOR) settle();
  };

  /**
   * After a fact from a miner (or the validator): the orchestrator's, then the validator's
   * decisions, until neither has more. Not re-entered: a decision appended while settling only
   * marks more to do, so no decider's batch is interleaved with another's.
   */
  let settling = false;
  const settle = (): void => {
    if (settling) return;
    settling = true;
    try {
      for (let before = -1; before !== log.length; ) {
        before = log.length;
        advance();
        score({ type: "Advance" });
      }
    } finally {
      settling = false;
    }
  };

  const score = (command: Parameters<typeof decideScorer>[0]): void => {
    if (validator === undefined || scorer === undefined || scorer.config === null) return;
    if (scorer.settings === null && command.type === "Advance") {
      if ((seqs.get(validator.id) ?? 0) === 0) score({ type: "StartScoring", settings: validator.settings });
      return;
    }
    const r = decideScorer(command, scorer, view);
    if (Result.isFailure(r)) return;
    for (const d of r.success) appendFact(validator.id, d as unknown as Decision);
  };

  /**
   * The validator re-executes each drawn check once the miner has opened the weights it names
   * (its WeightsOpened is in the log; a reduction needs nothing opened), or at the deadline,
   * `checkAfterTicks` after the draw, with whatever is there (an unopened version fails).
   */
  function* runChecks(final = false): Loop {
    for (const [window, drawnAt] of [...pendingChecks]) {
      const w = scorer?.windows[window];
      if (w === undefined || w.checks === null) continue;
      const late = final || tick >= drawnAt + (validator?.checkAfterTicks ?? 30);
      for (const [i, c] of w.checks.entries()) {
        if (scorer?.windows[window]?.verdicts[i] !== undefined) continue;
        if (!late && c.kind !== "reduce" && c.weights !== null && !openedChecks.has(`${w.drawId}#${i}`)) continue;
        const e = scorer === undefined ? undefined : evidenceOf(scorer, window, i);
        const out = e === undefined ? { passed: false, distance: 1, detail: "no evidence" } : yield* wait(() => checkWork(e));
        score({ type: "RecordVerdict", window, check: i, ...out });
      }
      if (Object.keys(scorer?.windows[window]?.verdicts ?? {}).length === w.checks.length) pendingChecks.delete(window);
    }
  }

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

  /** One effect: the compute is awaited (a yield), then its result goes back to the machine. */
  function* perform(h: Host, e: Effect): Loop {
    const me = h.miner.id;
    const send = (ev: WorkerEvent) => h.actor.send(ev);
    switch (e.type) {
      case "publish": return appendFact(me, e.params);
      case "forward": return send({ type: "forward.done", lease: e.params.lease, stage: e.params.stage, ...(yield* wait(() => compute.forward(me, e.params))) });
      case "lastStage": return send({ type: "loss.done", lease: e.params.lease, stage: e.params.stage, ...(yield* wait(() => compute.lastStage(me, e.params))) });
      case "backward": return send({ type: "backward.done", lease: e.params.lease, stage: e.params.stage, ...(yield* wait(() => compute.backward(me, e.params))) });
      case "stepOptimizer": yield* wait(() => compute.step(me, e.params)); return send({ type: "step.done", step: e.params.step, leases: e.params.leases, lr: e.params.lr });
      case "openWeights": return send({ type: "weights.opened", weights: e.params.weights, check: e.params.check, ok: yield* wait(() => compute.open(me, e.params)) });
      case "snapshotWeights": return yield* wait(() => compute.snapshot(me, e.params));
      case "sendPartitions": return send({ type: "partitions.sent", merge: e.params.merge, ...(yield* wait(() => compute.sendPartitions(me, e.params))) });
      case "reduce": return send({ type: "reduce.done", merge: e.params.merge, partition: e.params.partition, hash: yield* wait(() => compute.reduce(me, e.params)) });
      case "loadWeights": return send({ type: "weights.loaded", stage: e.params.stage, epoch: e.params.epoch, ...loaded(yield* wait(() => compute.load(me, e.params))) });
      case "storeWeights": return send({ type: "weights.stored", stage: e.params.stage, epoch: e.params.epoch, ref: yield* wait(() => compute.store(me, e.params)) });
      case "applyMerge": return send({ type: "weights.loaded", stage: e.params.stage, epoch: e.params.epoch, ...loaded(yield* wait(() => compute.applyMerge(me, e.params))) });
    }
  }

  function* kill(h: Host): Loop {
    h.alive = false;
    h.jobs = [];
    h.inbox = [];
    h.actor.stop();
    if (compute.release !== undefined) yield* wait(() => compute.release?.(h.miner.id));
  }

  /** Rounds within a tick: deliver what is due, then spend compute capacity, until quiet. */
  const next = (jobs: readonly Effect[]): number => {
    const rank = o.priority;
    if (rank === undefined) return 0;
    let best = 0;
    for (let i = 1; i < jobs.length; i++) if (rank(jobs[i] as Effect) < rank(jobs[best] as Effect)) best = i;
    return best;
  };

  function* rounds(): Loop {
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
            if (x.event.type === "fact") compute.observe?.(h.miner.id, x.event.fact);
            h.actor.send(x.event);
            if (h.actor.getSnapshot().status !== "active") h.alive = false; // left, kicked or timed out
          }
          busy = true;
        }
        while (h.alive && h.jobs.length > 0) {
          const at = next(h.jobs);
          const job = h.jobs[at] as Effect;
          const free = job.type === "publish";
          if (!free && (budget.get(h.miner.id) ?? 0) <= 0) break;
          h.jobs.splice(at, 1);
          if (!free) budget.set(h.miner.id, (budget.get(h.miner.id) ?? 0) - 1);
          yield* perform(h, job);
          busy = true;
        }
      }
      if (!busy) break;
    }
  }

  orchestrate({ type: "StartRun", config });
  const restarts = new Map<string, { at: number; count: number }>();
  const killed = new Set<string>();
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
    settle();
    yield* runChecks();
    for (const m of o.miners) {
      const h = hosts.get(m.id);
      if (h === undefined && (m.joinTick ?? 1) === tick) start(m, 0);
      const condemned = h?.alive === true && m.killWhen !== undefined && !killed.has(m.id) && m.killWhen(view);
      if (condemned) killed.add(m.id);
      const dies = h?.alive === true && (m.killTick === tick || condemned || rng("dropout", tick, m.id).float() < (o.dropout ?? 0));
      if (h !== undefined && dies) {
        yield* kill(h);
        if (m.rejoinAfter !== undefined) restarts.set(m.id, { at: tick + m.rejoinAfter, count: (restarts.get(m.id)?.count ?? 0) + 1 });
      }
      const re = restarts.get(m.id);
      if (h !== undefined && !h.alive && re !== undefined && re.at === tick) start(m, re.count);
    }
    yield* rounds();
    if (o.afterTick !== undefined) yield* wait(() => o.afterTick?.(tick, orch));
  }
  // The miners open what the last window's checks name; the validator judges them.
  for (let extra = 0; validator !== undefined && pendingChecks.size > 0 && extra < 50; extra++) {
    tick += 1;
    settle();
    yield* rounds();
    yield* runChecks(extra === 49);
  }
  return { log, state: orch, schedule: checkInvariants(log), ticks: tick - 1, mergeBytesSent, ...(scorer === undefined ? {} : { scorer }) };
}

/** A load's reply: a ref, or a ref with the optimizer state the miner took over. */
const loaded = (r: string | Loaded): Loaded => (typeof r === "string" ? { ref: r } : r);

/** Shuffles the data messages among themselves, keeping log facts in place. */
const reorderData = (xs: { due: number; event: WorkerEvent }[], r: Rng): { due: number; event: WorkerEvent }[] => {
  const isData = (x: { event: WorkerEvent }) => x.event.type === "fact" && (x.event.fact.type === "ActivationsForwarded" || x.event.fact.type === "GradientsReturned");
  const data = shuffled(xs.filter(isData), r);
  let k = 0;
  return xs.map((x) => (isData(x) ? (data[k++] as typeof x) : x));
};

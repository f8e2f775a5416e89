// A stage worker rebuilt from the log: the real `workerMachine`, driven as its host drove it.
//
// A host feeds its machine two kinds of events. (1) Every fact of the run in log order, with the
// host's fold of the log through that fact (`view`): the log holds these outright. (2) The results
// of the work the machine asked for (forward.done, step.done, weights.loaded, ...): the log holds
// these only as the facts the machine published on receiving them, the miner's own facts. An
// ActivationsForwarded answers a forward, a LossComputed a last-stage pass, a GradientsReturned or
// a stage-0 BackwardCompleted a backward, an OptimizerStepped a step, a PartitionsSent, a
// PartitionReduced, a WeightsOpened their requests, a WeightsLoaded a load, a merge's adoption or a
// store; a MinerLeft is the host's `leave`. So an own fact the machine has not already decided is
// turned back into the result that caused it and delivered just before the fact (the host cannot
// have seen a later fact than that), then every fact is delivered as a fact.
//
// What the log cannot give back, and is reported instead of guessed:
// - the moment a result reached the host, or a fact: the log orders what the host appended, not
//   when it computed or read, so a result is replayed as late as the log allows. Decisions that
//   depend on that moment (a heartbeat's tick, a step deferred while a lease awaits its backward)
//   can differ. The log's record then wins (align): its ids and steps give the machine's publish
//   count and tick, an OptimizerStepped its step number and the leases it consumed. Own facts no
//   decision explains are counted `unmatched`, decisions the log passed over `skipped`
//   (heartbeats aside: they carry nothing but timing);
// - result fields no fact records (a last stage's gradient ref: loss.done gets "" and 0, which only
//   the following GradientsReturned draft reads, never the context);
// - the step count of a stored AdamW state a joiner took over (optimizerSteps is then unknown);
// - whether a host is alive: work whose result never came (a killed host) stays requested, exactly
//   as in the dead machine, until the orchestrator's MinerTimedOut removes it.
import { initialTransition, type SnapshotFrom, transition } from "xstate";
import type { FactOf, SwarmFact } from "../../events/swarm/index.js";
import type { OrchestratorState } from "../orchestrator/index.js";
import { type Effect, signalsOf, type WorkerContext, type WorkerDraft, type WorkerEvent, workerMachine } from "../worker/index.js";

export type MachineState = SnapshotFrom<typeof workerMachine>;

/** A miner's rebuilt machine and what the replay knows around it. */
export interface WorkerReplay {
  readonly kind: "machine";
  readonly miner: string;
  readonly session: string;
  /** Ids of this session's facts start with it: `${run}:${miner}:${session}:`. */
  readonly prefix: string;
  readonly sessions: number;
  readonly joinedAt: number;
  readonly machine: MachineState;
  /** Facts the machine decided that the log has not shown yet, in decision order. */
  readonly decided: readonly WorkerDraft[];
  /** Work it asked its host for that no fact answers yet, in request order. */
  readonly requested: readonly Effect[];
  readonly logged: number;
  readonly lastFact: { readonly seq: number; readonly step: number; readonly type: string } | null;
  readonly unmatched: Readonly<Record<string, number>>;
  readonly skipped: Readonly<Record<string, number>>;
  /** It took over a stored AdamW state, whose step count the log does not hold. */
  readonly restored: boolean;
  /**
   * The latest fact not delivered because it only moves the machine's view (it raises no signal for
   * this miner): delivered before the next result, so every reaction still sees the host's view.
   */
  readonly stale: { readonly fact: SwarmFact; readonly view: OrchestratorState } | null;
}

/** A miner whose machine cannot be rebuilt. */
export interface WorkerUnknownReplay {
  readonly kind: "unknown";
  readonly miner: string;
  readonly sessions: number;
  readonly reason: string;
}

export type WorkerFold = WorkerReplay | WorkerUnknownReplay;

/**
 * Counts a divergence by fact type. Heartbeats are left out: whether one is due depends only on the
 * tick the host had seen when it last published, which the log does not order (align() takes the
 * log's heartbeats as they are).
 */
const bump = (counts: Readonly<Record<string, number>>, key: string): Readonly<Record<string, number>> =>
  key === "HeartbeatSent" ? counts : { ...counts, [key]: (counts[key] ?? 0) + 1 };

/** One event through the machine (XState's pure `transition`); the effects it emits become drafts or requests. */
const send = (w0: WorkerReplay, event: WorkerEvent): WorkerReplay => {
  if (w0.machine.status !== "active") return w0;
  // A fact brings the newest view itself; anything else first needs the view the skipped fact carried.
  const w = w0.stale === null || event.type === "fact" ? { ...w0, stale: null } : send({ ...w0, stale: null }, { type: "fact", ...w0.stale });
  const [machine, actions] = transition(workerMachine, w.machine, event);
  // Named effects are `emit` actions (machine.ts): XState hands them back as xstate.emit with the effect as params.event.
  const effects = (actions as readonly { readonly type: string; readonly params?: unknown }[]).flatMap((a) => (a.type === "xstate.emit" ? [(a.params as { event: Effect }).event] : []));
  if (effects.length === 0) return { ...w, machine };
  const drafts = effects.flatMap((e) => (e.type === "publish" ? [e.params] : []));
  // snapshotWeights has no reply: nothing in the log will answer it.
  const asks = effects.filter((e) => e.type !== "publish" && e.type !== "snapshotWeights");
  return { ...w, machine, decided: [...w.decided, ...drafts], requested: [...w.requested, ...asks] };
};

/** What identifies a fact among a miner's: its type and the work it is about (payloads may differ in values the replay cannot know). */
const keyOf = (x: WorkerDraft | SwarmFact): string => {
  switch (x.type) {
    case "ActivationsForwarded":
    case "GradientsReturned":
    case "BackwardCompleted":
      return `${x.type}|${x.payload.lease}|${x.payload.stage}`;
    case "LossComputed":
      return `${x.type}|${x.payload.lease}`;
    case "OptimizerStepped":
      return `${x.type}|${x.payload.step}`;
    case "PartitionsSent":
      return `${x.type}|${x.payload.merge}`;
    case "PartitionReduced":
      return `${x.type}|${x.payload.merge}|${x.payload.partition}`;
    case "WeightsLoaded":
      return `${x.type}|${x.payload.stage}|${x.payload.epoch}|${x.payload.ref}`;
    case "WeightsOpened":
      return `${x.type}|${x.payload.check}`;
    default:
      return x.type;
  }
};

/**
 * The own fact as one the machine decided: the drafts decided before it that the log passed over
 * are dropped as skipped (a host appends in its machine's order). Undefined when none matches.
 */
const matchDecided = (w: WorkerReplay, f: SwarmFact): WorkerReplay | undefined => {
  const k = keyOf(f);
  const i = w.decided.findIndex((d) => keyOf(d) === k);
  if (i < 0) return undefined;
  const skipped = w.decided.slice(0, i).reduce((s, d) => bump(s, d.type), w.skipped);
  return { ...w, decided: w.decided.slice(i + 1), skipped };
};

const isLoading = (m: MachineState): boolean => m.matches("loading") || m.matches({ merging: "loading" });

/** The result event an own fact answers, and the request it answers (null: the host's own input). */
const answerOf = (w: WorkerReplay, f: SwarmFact): { readonly event: WorkerEvent; readonly asked: Effect | null } | undefined => {
  const find = (p: (e: Effect) => boolean): Effect | undefined => w.requested.find(p);
  switch (f.type) {
    case "ActivationsForwarded": {
      const { lease, stage, ref, bytes, weights } = f.payload;
      const asked = find((e) => e.type === "forward" && e.params.lease === lease && e.params.stage === stage);
      return asked && { asked, event: { type: "forward.done", lease, stage, ref, bytes, weights } };
    }
    case "LossComputed": {
      const { lease, loss, tokens, weights } = f.payload;
      const asked = find((e) => e.type === "lastStage" && e.params.lease === lease);
      return asked?.type === "lastStage" ? { asked, event: { type: "loss.done", lease, stage: asked.params.stage, loss, tokens, ref: "", bytes: 0, weights } } : undefined;
    }
    case "GradientsReturned":
    case "BackwardCompleted": {
      const { lease, stage } = f.payload;
      const asked = find((e) => e.type === "backward" && e.params.lease === lease && e.params.stage === stage);
      const grad = f.type === "GradientsReturned" ? f.payload : { ref: "", bytes: 0 };
      return asked && { asked, event: { type: "backward.done", lease, stage, ref: grad.ref, bytes: grad.bytes } };
    }
    case "OptimizerStepped": {
      // The host replies with the step it was asked for (which leases, which rate), as the machine decided it.
      const asked = find((e) => e.type === "stepOptimizer" && e.params.step === f.payload.step);
      return asked?.type === "stepOptimizer" ? { asked, event: { type: "step.done", step: asked.params.step, leases: asked.params.leases, lr: asked.params.lr } } : undefined;
    }
    case "PartitionsSent": {
      const { merge, refs, bytes } = f.payload;
      const asked = find((e) => e.type === "sendPartitions" && e.params.merge === merge);
      return asked && { asked, event: { type: "partitions.sent", merge, refs, bytes } };
    }
    case "PartitionReduced": {
      const { merge, partition, hash } = f.payload;
      const asked = find((e) => e.type === "reduce" && e.params.merge === merge && e.params.partition === partition);
      return asked && { asked, event: { type: "reduce.done", merge, partition, hash } };
    }
    case "WeightsOpened": {
      const { weights, check } = f.payload;
      const asked = find((e) => e.type === "openWeights" && e.params.check === check);
      return asked && { asked, event: { type: "weights.opened", weights, check, ok: true } };
    }
    case "WeightsLoaded": {
      const { stage, epoch, ref, optimizer } = f.payload;
      const load = find((e) => (e.type === "loadWeights" || e.type === "applyMerge") && e.params.stage === stage && e.params.epoch === epoch);
      const store = find((e) => e.type === "storeWeights" && e.params.stage === stage && e.params.epoch === epoch);
      // A store never names an optimizer state; otherwise the machine's state says which it awaits.
      const asked = optimizer !== undefined || isLoading(w.machine) ? load ?? store : store ?? load;
      if (asked === undefined) return undefined;
      return asked.type === "storeWeights"
        ? { asked, event: { type: "weights.stored", stage, epoch, ref } }
        : { asked, event: { type: "weights.loaded", stage, epoch, ref, ...(optimizer === undefined ? {} : { optimizer }) } };
    }
    case "MinerLeft":
      return { asked: null, event: { type: "leave", reason: f.payload.reason } };
    default:
      return undefined;
  }
};

/** The machine with its context replaced (its state value kept): how the log's word on a decision is applied. */
const withContext = (w: WorkerReplay, f: (c: WorkerContext) => WorkerContext): WorkerReplay => {
  const m = w.machine;
  return { ...w, machine: workerMachine.resolveState({ value: m.value, context: f(m.context), historyValue: m.historyValue, status: m.status }) };
};

/**
 * The log's word on what the machine decided, where the replay could not know the timing:
 * - an own fact's id is the session's n-th and its step the tick it was published at, so the host's
 *   machine had then published n facts, the last at that tick (what times its heartbeats); later
 *   drafts the rebuilt machine decided and the log has not shown yet come on top;
 * - an OptimizerStepped (v2) records the step's number and the leases it averaged: the machine had
 *   taken that step, and those leases left its accumulated gradients. When the rebuilt machine had
 *   not decided it (it saw a lease arrive that the host had not seen yet, so it deferred), it is
 *   counted unmatched and the machine takes it as recorded.
 */
const align = (w: WorkerReplay, f: SwarmFact, decided: boolean): WorkerReplay => {
  const c = w.machine.context;
  const n = Number(f.id.slice(w.prefix.length));
  const published = Number.isSafeInteger(n) && n > 0 ? n + w.decided.length : c.published;
  const lastPublished = Number.isSafeInteger(n) && n > 0 ? w.decided[w.decided.length - 1]?.step ?? f.step : c.lastPublished;
  const stepped = f.type === "OptimizerStepped" && f.payload.leases.length > 0 ? f.payload : null;
  if (stepped === null) return published === c.published && lastPublished === c.lastPublished ? w : withContext(w, (x) => ({ ...x, published, lastPublished }));
  const leases = new Set(stepped.leases);
  return withContext(w, (x) => ({
    ...x, published, lastPublished, steps: Math.max(x.steps, stepped.step), accumulated: x.accumulated.filter((l) => !leases.has(l)),
    optimizerSteps: x.optimizerSteps + (decided ? 0 : 1),
  }));
};

/** One of the session's own facts, before it is delivered as a fact: matched to a decision, or turned back into its result. */
const ownFact = (w: WorkerReplay, f: SwarmFact, seq: number): WorkerReplay => {
  let x = matchDecided(w, f);
  let decided = x !== undefined;
  if (x === undefined) {
    const a = answerOf(w, f);
    if (a === undefined) x = { ...w, unmatched: bump(w.unmatched, f.type) };
    else {
      const restored = w.restored || (a.asked?.type === "loadWeights" && f.type === "WeightsLoaded" && f.payload.optimizer !== undefined);
      const answered = send({ ...w, requested: w.requested.filter((e) => e !== a.asked), restored }, a.event);
      x = matchDecided(answered, f);
      decided = x !== undefined || f.type === "OptimizerStepped"; // a step it asked for is its decision, whatever the draft says
      x ??= { ...answered, unmatched: bump(answered.unmatched, f.type) };
    }
  }
  // A step the machine never asked for leaves its request list as it was; the one it did is answered above.
  return { ...align(x, f, decided), logged: x.logged + 1, lastFact: { seq, step: f.step, type: f.type } };
};

/**
 * Delivers one fact of the log (with the orchestrator's fold through it) to a miner's machine. A
 * fact that raises no signal for a listening machine only replaces its view (machine.ts), so it is
 * kept as `stale` instead of run through the machine: most facts concern a few miners only.
 */
export const feedWorker = (w: WorkerFold, f: SwarmFact, view: OrchestratorState, seq: number): WorkerFold => {
  if (w.kind !== "machine") return w;
  // A stopped machine's own facts still count: drafts it decided before it stopped can land after.
  const x = f.actor === w.miner && f.id.startsWith(w.prefix) ? ownFact(w, f, seq) : w;
  if (x.machine.status !== "active") return x;
  const ctx = x.machine.context;
  if (ctx.listening && signalsOf(ctx, f, view).length === 0) return { ...x, stale: { fact: f, view } };
  return send(x, { type: "fact", fact: f, view });
};

/** Whether a MinerJoined starts a new session of `w`'s miner (not a redelivery of its own join). */
export const startsSession = (w: WorkerFold | undefined, f: FactOf<"MinerJoined">): boolean =>
  w === undefined || w.kind === "unknown" || !f.id.startsWith(w.prefix);

/**
 * A miner's machine as its host started it for the session of `f` (its MinerJoined at `seq`): the
 * host created it and fed it the log's last fact with its fold, which makes it publish the
 * MinerJoined this is (ids are `${run}:${miner}:${session}:${n}`, so the session is read back from
 * the id). `before`: the last fact before `f` and the orchestrator's fold through it.
 */
export const joinWorker = (prev: WorkerFold | undefined, f: FactOf<"MinerJoined">, seq: number, before: { readonly fact: SwarmFact; readonly view: OrchestratorState } | null): WorkerFold => {
  const sessions = (prev?.sessions ?? 0) + 1;
  const unknown = (reason: string): WorkerUnknownReplay => ({ kind: "unknown", miner: f.actor, sessions, reason });
  const run = before?.view.config?.run;
  if (before === null || run === undefined) return unknown("it joined before the run started");
  const prefix = `${run}:${f.actor}:`;
  const rest = f.id.startsWith(prefix) ? f.id.slice(prefix.length) : "";
  const cut = rest.lastIndexOf(":");
  if (cut <= 0 || rest.slice(cut + 1) !== "1")
    return unknown(`its MinerJoined id ${f.id} is not ${prefix}<session>:1, the id its machine would give it, so the machine's facts cannot be told apart`);
  const session = rest.slice(0, cut);
  const [machine] = initialTransition(workerMachine, { me: f.actor, session, throughput: f.payload.throughput });
  const w: WorkerReplay = {
    kind: "machine", miner: f.actor, session, prefix: `${prefix}${session}:`, sessions, joinedAt: seq, machine, decided: [], requested: [],
    logged: 0, lastFact: null, unmatched: {}, skipped: {}, restored: false, stale: null,
  };
  return send(w, { type: "fact", fact: before.fact, view: before.view });
};

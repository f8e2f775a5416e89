// The validator host: folds the run's log into the scorer's state (its own feed, from the first
// fact), appends the scorer's decisions on its own chain (only from a state its previous decision
// has come back into, so an auditor re-derives each at its basis), and performs the spot checks it
// draws: it waits until the miner opened the weights a check names (or a deadline passes), then
// re-executes the work with real kernels and records the verdict.
import { randomBytes } from "node:crypto";
import { Effect, Result } from "effect";
import type { Corpus } from "../../kernels/data/corpus.js";
import { initialState, type OrchestratorState } from "../../machines/orchestrator/index.js";
import { decideScorer, evidenceOf, evolveScorer, initialScorerState, type ScorerCommand, type ScorerDecision, type ScorerState, type ScoringSettings } from "../../machines/scorer/index.js";
import type { EventLogShape } from "../eventlog/service.js";
import type { Hotkey } from "../identity/index.js";
import type { NatsConnection } from "../nats/connection.js";
import type { DataChannel, DataWatch } from "../nats/data-channel.js";
import type { BlobStore } from "../swarm/blob-store.js";
import type { StageKernels } from "../swarm/stage-kernels.js";
import { type RunFeed, startRunFeed } from "../swarm/feed.js";
import { readModel, type SwarmModel } from "../swarm/model.js";
import { openWriter, type ActorWriter } from "../swarm/writer.js";
import { type CheckOutcome, reexecute } from "./reexecute.js";
import type { FactJournal } from "../swarm/journal.js";

export interface ValidatorHostOptions {
  readonly nc: NatsConnection;
  readonly run: string;
  readonly log: EventLogShape;
  readonly hotkey: Hotkey;
  readonly settings: ScoringSettings;
  readonly blobs: BlobStore;
  readonly data: DataChannel;
  /** The stage kernels for the run's model (a sim shares its miners'). */
  readonly kernels: (model: SwarmModel) => StageKernels;
  readonly corpus: Corpus;
  /** Clock ticks after a draw by which a miner must have opened the weights a check names (default 30). */
  readonly openTicks?: number;
  /** Once the run completed (no more ticks), milliseconds after a draw a miner still has to open them (default 10 s). */
  readonly openMs?: number;
  readonly session?: string;
  /** Seed of the session key its writer signs with (on a secured bus, the key it logged in with); default random. */
  readonly sessionSeed?: Uint8Array;
  /** The actor's journal of stored facts (refills when the bus loses some); default none. */
  readonly journal?: FactJournal;
  readonly onError?: (e: unknown) => void;
}

export interface ValidatorHost {
  readonly id: string;
  /** The scorer's folded state. */
  state(): ScorerState;
  /** Resolves once the run completed and every window it closed is scored. */
  readonly done: Promise<ScorerState>;
  stop(): Promise<void>;
}

/** How long a check waits for the data stream's reader to catch up before calling data missing. */
const DATA_WAIT_MS = 10_000;

/** Every window the run closed is scored (the run is over for this validator). */
export const allScored = (s: ScorerState): boolean =>
  s.done && s.settings !== null && s.windows.every((w) => (w.closedBy === null ? w.samples.length === 0 : w.scored));

export const startValidatorHost = async (o: ValidatorHostOptions): Promise<ValidatorHost> => {
  const me = o.hotkey.address;
  const session = o.session ?? randomBytes(4).toString("hex");
  const fail = o.onError ?? ((e: unknown) => process.stderr.write(`validator: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`));
  let s = initialScorerState(me);
  let view: OrchestratorState = initialState();
  let writer: ActorWriter | undefined;
  let pending: string | null = null;
  let stopped = false;
  let model: SwarmModel | undefined;
  const opened = new Set<string>();
  /** Drawn windows with checks to judge: window -> the tick and wall time of the draw. */
  const drawn = new Map<number, { tick: number; at: number }>();
  const running = new Set<string>();
  const verdicts: ScorerCommand[] = [];
  /** Data messages by lease, then content ref: what pipeline checks re-run from. */
  const cache = new Map<string, Map<string, Uint8Array>>();
  let resolveDone: (s: ScorerState) => void = () => undefined;
  const done = new Promise<ScorerState>((r) => (resolveDone = r));

  const append = (ds: readonly ScorerDecision[]): void => {
    if (ds.length === 0 || writer === undefined) return;
    pending = (ds[ds.length - 1] as ScorerDecision).id;
    for (const d of ds) writer.append(d).catch((e: unknown) => { fail(e); stopped = true; });
  };

  const decideNow = (command: ScorerCommand): boolean => {
    const r = decideScorer(command, s, view);
    if (Result.isFailure(r)) return false;
    append(r.success);
    return r.success.length > 0;
  };

  let scheduled = false;
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      if (stopped || writer === undefined) return;
      startChecks();
      if (pending !== null) return;
      if (s.config !== null && s.settings === null) {
        if ((s.seqs[me] ?? 0) === 0) decideNow({ type: "StartScoring", settings: o.settings });
        return;
      }
      const v = verdicts.shift();
      if (v !== undefined) {
        decideNow(v);
        if (pending === null) schedule(); // a refused verdict (already judged): go on
        return;
      }
      decideNow({ type: "Advance" });
      if (pending === null && allScored(s)) resolveDone(s);
    });
  };

  const cached = (ref: string): Uint8Array | undefined => {
    for (const m of cache.values()) {
      const b = m.get(ref);
      if (b !== undefined) return b;
    }
    return undefined;
  };
  // Data a check needs and the cache lacks: the data stream's reader may be behind the facts (the
  // two are separate streams), so wait for it to reach the stream's end before calling it missing.
  let dataWatch: DataWatch | undefined;
  const dataOf = async (ref: string): Promise<Uint8Array | undefined> => {
    const hit = cached(ref);
    if (hit !== undefined) return hit;
    await dataWatch?.caughtUp(DATA_WAIT_MS);
    return cached(ref);
  };

  /** Starts every check whose weights are opened (or whose deadline passed), one at a time per check. */
  const startChecks = (): void => {
    const config = s.config;
    if (config === null) return;
    model ??= readModel(config);
    const m = model;
    for (const [window, at] of drawn) {
      const w = s.windows[window];
      if (w === undefined || w.checks === null || w.drawId === null) continue;
      const late = view.tick >= at.tick + (o.openTicks ?? 30) || (view.done && performance.now() - at.at >= (o.openMs ?? 10_000));
      w.checks.forEach((c, i) => {
        const key = `${w.drawId}#${i}`;
        if (w.verdicts[i] !== undefined || running.has(key)) return;
        if (!late && c.kind !== "reduce" && c.weights !== null && !opened.has(key)) return;
        const e = evidenceOf(s, window, i);
        running.add(key);
        const outcome: Promise<CheckOutcome> = e === undefined
          ? Promise.resolve({ passed: false, distance: 1, detail: "no evidence in the log" })
          : reexecute({ model: m, kernels: o.kernels(m), corpus: o.corpus, blobs: o.blobs, data: dataOf }, e, key);
        void outcome.then((r) => {
          verdicts.push({ type: "RecordVerdict", window, check: i, ...r });
          schedule();
        }, fail);
      });
      if (Object.keys(w.verdicts).length === w.checks.length) drawn.delete(window);
    }
  };

  const feed: RunFeed = await startRunFeed(o.nc, o.run, `val-${me.slice(0, 8)}-${session}`, (item) => {
    s = evolveScorer(s, item.fact, item.view);
    view = item.view;
    const f = item.fact;
    if (f.type === "WeightsOpened") opened.add(f.payload.check);
    if (f.actor === me && f.type === "SpotChecksDrawn") {
      drawn.set(f.payload.window, { tick: item.view.tick, at: performance.now() });
      // Data of the window's leases that no check names is no longer needed.
      const keep = new Set(f.payload.checks.map((c) => c.subject));
      for (const l of s.windows[f.payload.window]?.leases ?? []) if (!keep.has(l)) cache.delete(l);
    }
    if (pending !== null && f.id === pending) pending = null;
    schedule();
  });
  dataWatch = await o.data.watch((m) => {
    if (m.kind === "part") return;
    const byRef = cache.get(m.lease) ?? new Map<string, Uint8Array>();
    byRef.set(m.ref, m.data);
    cache.set(m.lease, byRef);
  });
  await feed.reached(await Effect.runPromise(o.log.lastSeq(o.run)));
  writer = await openWriter({ log: o.log, run: o.run, hotkey: o.hotkey, head: feed.head(me), session, step: feed.view().tick, ...(o.sessionSeed === undefined ? {} : { sessionSeed: o.sessionSeed }), ...(o.journal === undefined ? {} : { journal: o.journal }) });
  // Deadlines pass with wall time too once the run stopped ticking.
  const timer = setInterval(schedule, 500);
  schedule();

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    await dataWatch?.stop().catch(() => undefined);
    await writer?.drain().catch(() => undefined);
    await feed.stop().catch(() => undefined);
  };
  return { id: me, state: () => s, done, stop };
};

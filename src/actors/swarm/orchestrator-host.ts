// The orchestrator host: folds the run's facts (the feed's view, in log order) through the decider
// and appends its decisions on its own chain; the clock is a timer whose ticks are recorded as
// ClockTicked facts, so time enters decisions only through the log. It decides only when its own
// previous decisions have come back through the feed, so every batch is decided from a state that
// is exactly a prefix of the log in release order (events/fold-order.ts: the order the auditor
// folds in) — and a restarted orchestrator, which refolds the log first, carries on with the same
// decisions.
import { randomBytes } from "node:crypto";
import { Effect, Result } from "effect";
import type { SwarmRunConfig } from "../../events/swarm/index.js";
import { decide, type Decision, type OrchestratorCommand, type OrchestratorState } from "../../machines/orchestrator/index.js";
import type { EventLogShape } from "../eventlog/service.js";
import type { Hotkey } from "../identity/index.js";
import type { RunFeed } from "./feed.js";
import { certId, openWriter } from "./writer.js";
import type { FactJournal } from "./journal.js";

export interface OrchestratorHostOptions {
  readonly feed: RunFeed;
  readonly log: EventLogShape;
  readonly hotkey: Hotkey;
  /** The run to start when the log has none yet (ignored when the run already started: a restart). */
  readonly config?: SwarmRunConfig;
  /** Wall-clock milliseconds between clock ticks (default 100). */
  readonly tickMs?: number;
  readonly session?: string;
  /** Seed of the session key its writer signs with (on a secured bus, the key it logged in with); default random. */
  readonly sessionSeed?: Uint8Array;
  /** The actor's journal of stored facts (refills when the bus loses some); default none. */
  readonly journal?: FactJournal;
  readonly onError?: (e: unknown) => void;
}

export interface OrchestratorHost {
  readonly id: string;
  /** The folded state (the feed's view). */
  state(): OrchestratorState;
  /** Decisions appended by this session. */
  decisions(): number;
  /** Records an operator's kick. */
  kick(miner: string): Promise<void>;
  /** Stops (the run stays in the log; a new host resumes it). */
  stop(): Promise<void>;
  /** Resolves with the final state when the run completes; rejects if the host fails. */
  readonly done: Promise<OrchestratorState>;
}

/**
 * Starts (or resumes) the orchestrator of the feed's run. The hotkey must be the run's
 * orchestrator when resuming; a new run names it in SwarmRunStarted.
 */
export const startOrchestratorHost = async (o: OrchestratorHostOptions): Promise<OrchestratorHost> => {
  const me = o.hotkey.address;
  const run = o.feed.run;
  const session = o.session ?? randomBytes(4).toString("hex");
  await o.feed.reached(await Effect.runPromise(o.log.lastSeq(run)));
  const writer = await openWriter({ log: o.log, run, hotkey: o.hotkey, head: o.feed.head(me), session, step: o.feed.view().tick, ...(o.sessionSeed === undefined ? {} : { sessionSeed: o.sessionSeed }), ...(o.journal === undefined ? {} : { journal: o.journal }) });
  // The certificate may release events of a killed session that readers held unsigned: decide
  // only from a view that includes them.
  await o.feed.accepted(certId(run, me, session));
  let pending: string | null = null; // id of our last appended decision not yet folded back
  let stopped = false;
  let count = 0;
  let resolveDone: (s: OrchestratorState) => void = () => undefined;
  let rejectDone: (e: unknown) => void = () => undefined;
  const done = new Promise<OrchestratorState>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => undefined);

  const failWith = (e: unknown): void => {
    o.onError?.(e);
    stopped = true;
    rejectDone(e);
  };

  const append = (ds: readonly Decision[]): void => {
    if (ds.length === 0) return;
    pending = (ds[ds.length - 1] as Decision).id;
    count += ds.length;
    for (const d of ds) writer.append(d).catch(failWith);
  };

  const attempt = (command: OrchestratorCommand): void => {
    if (stopped || pending !== null) return;
    const r = decide(command, o.feed.view());
    if (Result.isFailure(r)) return; // a rejection: nothing to record (e.g. Tick before the run starts)
    append(r.success);
  };

  let scheduled = false;
  const advance = (): void => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      const s = o.feed.view();
      if (s.done) {
        resolveDone(s);
        return;
      }
      attempt({ type: "Advance" });
    });
  };

  const unlisten = o.feed.listen((item) => {
    if (pending !== null && item.fact.id === pending) pending = null;
    advance();
  });

  const view = o.feed.view();
  if (view.config === null) {
    if (o.config === undefined) throw new Error(`run ${run} has not started and no config was given`);
    if (o.config.orchestrator !== me) throw new Error(`the run's orchestrator is ${o.config.orchestrator}, not ${me}`);
    attempt({ type: "StartRun", config: o.config });
  } else {
    if (view.config.orchestrator !== me) throw new Error(`run ${run} is orchestrated by ${view.config.orchestrator}, not ${me}`);
    advance();
  }

  const timer = setInterval(() => {
    if (o.feed.view().done) return;
    attempt({ type: "Tick" });
  }, o.tickMs ?? 100);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    unlisten();
    await writer.drain().catch(() => undefined);
  };
  void done.then(() => stop(), () => stop());

  return {
    id: me,
    state: () => o.feed.view(),
    decisions: () => count,
    kick: async (miner) => {
      // Waits for a quiet moment: a kick is decided like any command, from a folded state.
      while (pending !== null && !stopped) await o.feed.accepted(pending);
      attempt({ type: "KickMiner", miner });
    },
    stop,
    done,
  };
};

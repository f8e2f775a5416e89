// Time travel over one log: a point's snapshot is the fold of the log up to it. The Replayer keeps
// a checkpoint (an immutable replay state) every `every` entries as its folds pass them, so a
// slider that jumps around refolds at most `every` entries from the nearest one before the point.
import { Result } from "effect";
import type { LogEntry } from "../../events/jsonl.js";
import { foldTo, initialReplay, type ReplayState } from "./fold.js";
import { prepareLog, resolveAt, type ReplayLog } from "./log.js";
import { runSnapshot } from "./summary.js";
import type { At, ReplayError, RunSnapshot } from "./types.js";

/** Entries between checkpoints by default: refolding up to 128 entries takes ~10 ms here (2 loaded cores), so a slider stays live. */
export const CHECKPOINT_EVERY = 128;

export class Replayer {
  /** checkpoints[k]: the state after k * every entries, filled as folds pass them. */
  private readonly checkpoints: ReplayState[];

  private constructor(readonly log: ReplayLog, readonly every: number) {
    this.checkpoints = [initialReplay(log)];
  }

  /** A replayer over parsed log entries (stream order); fails on an event that does not decode. */
  static of(entries: readonly LogEntry[], every: number = CHECKPOINT_EVERY): Result.Result<Replayer, ReplayError> {
    return Result.map(prepareLog(entries), (log) => new Replayer(log, Math.max(1, Math.floor(every))));
  }

  /** The last entry's stream seq (0 for an empty log) and the last logical step. */
  get end(): { readonly seq: number; readonly step: number } {
    return { seq: this.log.entries[this.log.entries.length - 1]?.seq ?? 0, step: this.log.ticks.length };
  }

  /** The replay state after the first `index` entries. */
  stateAfter(index: number): ReplayState {
    const to = Math.max(0, Math.min(index, this.log.entries.length));
    const k = Math.min(Math.floor(to / this.every), this.checkpoints.length - 1);
    let s = this.checkpoints[k] as ReplayState;
    while (s.index < to) {
      const next = Math.min(to, (Math.floor(s.index / this.every) + 1) * this.every);
      s = foldTo(this.log, s, next);
      if (s.index % this.every === 0 && this.checkpoints[s.index / this.every] === undefined) this.checkpoints[s.index / this.every] = s;
    }
    return s;
  }

  /** The run at `at`. */
  snapshotAt(at: At): Result.Result<RunSnapshot, ReplayError> {
    return Result.map(resolveAt(this.log, at), (index) => runSnapshot(this.log, this.stateAfter(index)));
  }
}

/** The run at `at`, folded in one pass from the start (a Replayer serves many points of one log). */
export const snapshotAt = (entries: readonly LogEntry[], at: At): Result.Result<RunSnapshot, ReplayError> =>
  Result.flatMap(Replayer.of(entries, Number.MAX_SAFE_INTEGER), (r) => r.snapshotAt(at));

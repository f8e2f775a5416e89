// A log made ready to fold: each entry's swarm fact decoded once (upcast to the latest version),
// and the few things a point is resolved by (the last seq, the orchestrator's clock ticks).
import { Result } from "effect";
import { decodeFact } from "../../events/facts.js";
import type { LogEntry } from "../../events/jsonl.js";
import type { SwarmFact } from "../../events/swarm/index.js";
import { vocabularyRegistry } from "../../events/vocabulary.js";
import { validatorsOf } from "../scorer/index.js";
import type { At, ReplayError } from "./types.js";

/** One log entry as the fold sees it: its stream seq and its swarm fact (null for a core event: a certificate). */
export interface ReplayEntry {
  readonly seq: number;
  readonly fact: SwarmFact | null;
}

export interface ReplayLog {
  /** The run the log's events name (the first event's), or "" for a log without events. */
  readonly run: string;
  readonly entries: readonly ReplayEntry[];
  /** Every actor that recorded ScoringStarted: a validator is folded from the start, shown from its ScoringStarted on. */
  readonly validators: readonly string[];
  /** ticks[i]: the entry index of the orchestrator's ClockTicked to tick i + 1 (the end of logical step i). */
  readonly ticks: readonly number[];
}

/** Decodes the entries' facts; fails naming the first event that does not decode. */
export const prepareLog = (entries: readonly LogEntry[]): Result.Result<ReplayLog, ReplayError> => {
  const registry = vocabularyRegistry();
  const out: ReplayEntry[] = [];
  const ticks: number[] = [];
  let orchestrator: string | undefined;
  for (const e of entries) {
    const d = decodeFact(e.event, registry);
    if (d !== undefined && "refused" in d) return Result.fail({ _tag: "Undecodable", seq: e.seq, id: d.refused.id, type: d.refused.type, reason: d.refused.reason });
    const fact = d?.fact ?? null;
    if (fact?.type === "SwarmRunStarted" && orchestrator === undefined && fact.payload.orchestrator === fact.actor) orchestrator = fact.actor;
    // The clock only moves forward (a stale tick changes nothing in the fold); a jump ends every step it skips.
    if (fact?.type === "ClockTicked" && fact.actor === orchestrator) while (ticks.length < fact.payload.tick) ticks.push(out.length);
    out.push({ seq: e.seq, fact });
  }
  const facts = out.flatMap((e) => (e.fact === null ? [] : [e.fact]));
  return Result.succeed({ run: entries[0]?.event.run ?? "", entries: out, validators: validatorsOf(facts), ticks });
};

const isPosition = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/**
 * How many entries a point folds. `{ seq }`: every entry up to and including that stream
 * sequence (0: none). `{ step }`: every entry before the orchestrator's tick to step + 1, so the
 * whole of logical step `step`, late facts of the step's miners included.
 */
export const resolveAt = (log: ReplayLog, at: At): Result.Result<number, ReplayError> => {
  if ("seq" in at) {
    if (!isPosition(at.seq)) return Result.fail({ _tag: "BadPosition", at });
    const last = log.entries[log.entries.length - 1]?.seq ?? 0;
    if (at.seq > last) return Result.fail({ _tag: "PastTheEnd", at, last });
    const i = log.entries.findIndex((e) => e.seq > at.seq);
    return Result.succeed(i < 0 ? log.entries.length : i);
  }
  if (!isPosition(at.step)) return Result.fail({ _tag: "BadPosition", at });
  const last = log.ticks.length;
  if (at.step > last) return Result.fail({ _tag: "PastTheEnd", at, last });
  return Result.succeed(log.ticks[at.step] ?? log.entries.length);
};

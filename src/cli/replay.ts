// `swarmline replay FILE | --nats URL --run ID [--at SEQ | --step N] [--actor ID] [--json]` and
// `... --diff A B`: time travel. Folds the log up to a point and prints the orchestrator's state,
// every miner's stage-worker machine (rebuilt by running the real machine over what its host fed
// it) and the validators' scores; or what changed between two points. Exit 0 shown, 1 a server
// that cannot be read, 2 bad usage, an unreadable log or a point the log does not reach.
import type { Command } from "commander";
import { Result } from "effect";
import { parseLogLines, type LogEntry } from "../events/jsonl.js";
import { type At, diffSnapshots, focusSnapshot, Replayer, type ReplayError, type RunSnapshot } from "../machines/replay/index.js";
import { setExit } from "./exit.js";
import { AUDITOR_HOTKEY_HELP, checkLogSource, readLogLines, SECURE_READ_HELP } from "./read-log.js";
import { diffText, snapshotText } from "./replay-text.js";
import { UsageError } from "./run-settings.js";

type Flags = { nats?: string; run?: string; secure?: boolean; hotkey?: string; at?: string; step?: string; actor?: string; json?: boolean; diff?: string[] };

/** A stream seq or step from a flag: a non-negative integer, or a UsageError naming the flag. */
const position = (flag: string, v: string): number => {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError({ message: `${flag} expects a non-negative integer, got "${v}"` });
  return Number(v);
};

/** Where to look: one point (default: the end), or the two points of --diff. */
const pointsOf = (f: Flags): { readonly at?: At; readonly diff?: readonly [At, At] } => {
  if (f.at !== undefined && f.step !== undefined) throw new UsageError({ message: "give --at SEQ or --step N, not both" });
  if (f.diff !== undefined) {
    if (f.at !== undefined || f.step !== undefined) throw new UsageError({ message: "--diff A B names its own two points: drop --at/--step" });
    if (f.diff.length !== 2) throw new UsageError({ message: `--diff takes two stream seqs (--diff A B), got ${f.diff.length}` });
    return { diff: [{ seq: position("--diff", f.diff[0] as string) }, { seq: position("--diff", f.diff[1] as string) }] };
  }
  if (f.at !== undefined) return { at: { seq: position("--at", f.at) } };
  if (f.step !== undefined) return { at: { step: position("--step", f.step) } };
  return {};
};

/** A replay error as the message a user acts on. */
export const replayErrorText = (e: ReplayError, source: string): string => {
  switch (e._tag) {
    case "PastTheEnd":
      return "seq" in e.at
        ? `seq ${e.at.seq} is past the end of ${source}: its last entry is seq ${e.last} (pick --at 0..${e.last})`
        : `step ${e.at.step} is past the end of ${source}: the orchestrator's clock reached step ${e.last} (pick --step 0..${e.last})`;
    case "BadPosition":
      return `${JSON.stringify(e.at)} is not a point of the log: a seq or step is a non-negative integer`;
    case "Undecodable":
      return `event ${e.id} (${e.type}) at seq ${e.seq} of ${source} does not decode: ${e.reason} (a log of another swarmline version, or a damaged one: \`swarmline log verify\` checks it)`;
  }
};

/** The miner `id` names: a full hotkey or a unique prefix of one that joined the run. */
const resolveActor = (entries: readonly LogEntry[], id: string): string => {
  const miners = [...new Set(entries.filter((e) => e.event.type === "MinerJoined").map((e) => e.event.actor))].sort();
  if (miners.includes(id)) return id;
  const hits = miners.filter((m) => m.startsWith(id));
  if (hits.length === 1) return hits[0] as string;
  const list = miners.map((m) => `${m.slice(0, 8)}…`).join(", ");
  throw new UsageError({
    message: hits.length === 0
      ? `--actor ${id}: no miner of this log has that id (its miners: ${list || "none"})`
      : `--actor ${id}: ${hits.length} miners start with it (${hits.map((m) => `${m.slice(0, 12)}…`).join(", ")}); give more of the id`,
  });
};

const fail = (message: string): void => {
  process.stderr.write(`swarmline replay: ${message}\n`);
  setExit(2);
};

export const registerReplay = (program: Command): void => {
  program
    .command("replay")
    .description(
      "Time travel: fold a run's log up to a point and print the orchestrator's state (stages, miners, leases, retry queue, merges), " +
        "every miner's stage-worker machine (its XState state and context, rebuilt by running the real machine over the facts its host fed it " +
        "and the results its own facts record) and the validators' scores; --diff A B prints what changed between two points. " +
        "It folds without verifying signatures: `swarmline audit` does that",
    )
    .argument("[file]", "an exported JSONL log (`swarmline log export` and `sim --log` write one)")
    .option("--nats <url>", "replay a run on this NATS server instead of a file (with --run)")
    .option("--run <id>", "the run to replay (with --nats)")
    .option("--secure", SECURE_READ_HELP)
    .option("--hotkey <uri>", AUDITOR_HOTKEY_HELP)
    .option("--at <seq>", "the point: after the entry with this stream sequence (default: the end)")
    .option("--step <n>", "the point: the end of logical step (clock tick) N, i.e. every entry before the orchestrator's tick N+1")
    .option("--actor <id>", "only this miner (a hotkey or a unique prefix): its record, its machine, its leases and merges, its scores")
    .option("--diff <seqs...>", "two stream seqs A B: what changed from A to B")
    .option("--json", "print the snapshot (or the diff) as one JSON object")
    .action(async (file: string | undefined, f: Flags) => {
      checkLogSource("replay", file, f);
      const points = pointsOf(f);
      const lines = await readLogLines("replay", file, f);
      if (lines === undefined) return;
      const source = file ?? `run ${f.run as string}`;
      const parsed = parseLogLines(lines);
      if (Result.isFailure(parsed)) {
        const p = parsed.failure;
        return fail(`${source} is not a readable log: line ${p.line}: ${p.reason}: ${p.detail} (\`swarmline log verify\` checks an exported log)`);
      }
      const entries = parsed.success.entries;
      if (entries.length === 0) return fail(`${source} holds no events (check the file, or --run and --nats)`);
      const actor = f.actor === undefined ? undefined : resolveActor(entries, f.actor);
      const replayer = Replayer.of(entries);
      if (Result.isFailure(replayer)) return fail(replayErrorText(replayer.failure, source));
      const r = replayer.success;
      const view = (s: RunSnapshot): RunSnapshot => (actor === undefined ? s : focusSnapshot(s, actor));
      const snap = (a: At): RunSnapshot | undefined => {
        const s = r.snapshotAt(a);
        if (Result.isSuccess(s)) return view(s.success);
        fail(replayErrorText(s.failure, source));
        return undefined;
      };
      if (points.diff !== undefined) {
        const a = snap(points.diff[0]);
        const b = a === undefined ? undefined : snap(points.diff[1]);
        if (a === undefined || b === undefined) return;
        const d = diffSnapshots(a, b);
        process.stdout.write(f.json === true ? `${JSON.stringify(d)}\n` : diffText(b.run, d));
        return;
      }
      const s = snap(points.at ?? { seq: r.end.seq });
      if (s === undefined) return;
      process.stdout.write(f.json === true ? `${JSON.stringify(s)}\n` : snapshotText(s));
    });
};

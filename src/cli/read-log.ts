// Where the commands that fold a whole run (audit, replay) get its log: an exported JSONL FILE, or
// the run's facts stream on a NATS server, read once as `log export` would write it. One reader, so
// both commands accept the same sources and fail the same way.
import { readFileSync } from "node:fs";
import { readRunLines, RunUnreadable } from "../actors/audit/read-run.js";
import { isBlank, splitLines } from "../events/jsonl.js";
import { setExit } from "./exit.js";
import { UsageError } from "./run-settings.js";

/** The flags naming a run on a server. */
export interface RunSource {
  readonly nats?: string;
  readonly run?: string;
}

/** Either FILE or --nats URL --run ID, exactly: a UsageError (exit 2) names the missing or extra part. */
export const checkLogSource = (command: string, file: string | undefined, f: RunSource): void => {
  if (file !== undefined && (f.nats !== undefined || f.run !== undefined))
    throw new UsageError({ message: `${command} takes either FILE (an exported log) or --nats URL --run ID, not both` });
  if (file === undefined && f.nats === undefined && f.run === undefined)
    throw new UsageError({ message: `${command} needs a log: FILE (an exported JSONL log) or --nats URL --run ID (a run on a server)` });
  if (f.nats !== undefined && f.run === undefined) throw new UsageError({ message: `--nats needs --run ID: the run to ${command}` });
  if (f.run !== undefined && f.nats === undefined) throw new UsageError({ message: `--run needs --nats URL: the server holding the run (or ${command} an exported FILE)` });
};

/**
 * The log's lines, or undefined with the error printed and the exit code set: 2 for an unreadable
 * file or a run that holds nothing (the caller's to fix), 1 for a server that cannot be read.
 */
export const readLogLines = async (command: string, file: string | undefined, f: RunSource): Promise<string[] | undefined> => {
  const fail = (code: number, message: string): undefined => {
    process.stderr.write(`swarmline ${command}: ${message}\n`);
    setExit(code);
    return undefined;
  };
  if (file !== undefined) {
    try {
      return splitLines(readFileSync(file, "utf8"));
    } catch (e) {
      return fail(2, `cannot read ${file}: ${e instanceof Error ? e.message : String(e)} (check the FILE path; \`swarmline log export\` writes one from a run)`);
    }
  }
  let lines: string[];
  try {
    lines = await readRunLines(f.nats as string, f.run as string);
  } catch (e) {
    if (e instanceof RunUnreadable) return fail(1, e.message);
    throw e;
  }
  if (lines.filter((l) => !isBlank(l)).length <= 1) return fail(2, `run ${f.run} holds no events on ${f.nats} (check --run)`);
  return lines;
};

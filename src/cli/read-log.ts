// Where the commands that fold a whole run (audit, replay) get its log: an exported JSONL FILE, or
// the run's facts stream on a NATS server, read once as `log export` would write it. One reader, so
// both commands accept the same sources and fail the same way.
import { readFileSync } from "node:fs";
import { readRunLines, RunUnreadable } from "../actors/audit/read-run.js";
import { connectAsMember, JoinRefused, joinSecuredRun } from "../actors/gatekeeper/join.js";
import { cryptoReady } from "../actors/identity/index.js";
import { connectNats, type NatsConnection } from "../actors/nats/connection.js";
import { hotkeyFromFlag } from "./swarm-process.js";
import { isBlank, splitLines } from "../events/jsonl.js";
import { setExit } from "./exit.js";
import { UsageError } from "./run-settings.js";

/** The flags naming a run on a server. */
export interface RunSource {
  readonly nats?: string;
  readonly run?: string;
  /** The server is secured: join its run as an auditor (read-only; any hotkey is admitted). */
  readonly secure?: boolean;
  /** The auditor's hotkey (key URI or mnemonic) with --secure. */
  readonly hotkey?: string;
}

/** The --secure/--hotkey help texts of the commands that read a run (audit, replay, log export). */
export const SECURE_READ_HELP = "the server is secured (`swarmline nats --secure`): join the run through its gatekeeper as an auditor (read-only; any hotkey is admitted)";
export const AUDITOR_HOTKEY_HELP = "with --secure: the hotkey the auditor's session key is certified by (key URI or mnemonic)";
export const DEFAULT_AUDITOR = "//Auditor";

/** A connection to `url` for reading `run`: on a secured server, as an auditor the gatekeeper admitted. */
export const readerConnection = async (url: string, run: string, f: Pick<RunSource, "secure" | "hotkey">, name: string): Promise<NatsConnection> => {
  if (f.secure !== true) return connectNats(url, name);
  await cryptoReady();
  const m = await joinSecuredRun(url, run, hotkeyFromFlag(f.hotkey ?? DEFAULT_AUDITOR), "auditor");
  return connectAsMember(url, name, m);
};

/** Either FILE or --nats URL --run ID, exactly: a UsageError (exit 2) names the missing or extra part. */
export const checkLogSource = (command: string, file: string | undefined, f: RunSource): void => {
  if (file !== undefined && (f.nats !== undefined || f.run !== undefined))
    throw new UsageError({ message: `${command} takes either FILE (an exported log) or --nats URL --run ID, not both` });
  if (file === undefined && f.nats === undefined && f.run === undefined)
    throw new UsageError({ message: `${command} needs a log: FILE (an exported JSONL log) or --nats URL --run ID (a run on a server)` });
  if (f.nats !== undefined && f.run === undefined) throw new UsageError({ message: `--nats needs --run ID: the run to ${command}` });
  if (f.run !== undefined && f.nats === undefined) throw new UsageError({ message: `--run needs --nats URL: the server holding the run (or ${command} an exported FILE)` });
  if (f.secure === true && f.nats === undefined) throw new UsageError({ message: `--secure reads a run on a secured server: add --nats URL --run ID` });
  if (f.hotkey !== undefined && f.secure !== true) throw new UsageError({ message: `--hotkey is the auditor's identity on a secured server: add --secure (an open server needs none)` });
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
    if (f.secure === true) {
      const nc = await readerConnection(f.nats as string, f.run as string, f, `swarmline-${command}-${f.run as string}`).catch((e: unknown) => {
        throw new RunUnreadable(`${e instanceof JoinRefused ? `${e.reason}: ` : ""}${e instanceof Error ? e.message : String(e)}`);
      });
      try {
        lines = await readRunLines(f.nats as string, f.run as string, nc);
      } finally {
        await nc.drain().catch(() => undefined);
      }
    } else lines = await readRunLines(f.nats as string, f.run as string);
  } catch (e) {
    if (e instanceof RunUnreadable) return fail(1, e.message);
    throw e;
  }
  if (lines.filter((l) => !isBlank(l)).length <= 1) return fail(2, `run ${f.run} holds no events on ${f.nats} (check --run)`);
  return lines;
};

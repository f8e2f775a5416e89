// What `swarmline orchestrate` and `swarmline miner` share as separate OS processes: connecting to
// NATS with an error that says how to fix it, turning failures into messages and exit codes, and
// turning SIGINT/SIGTERM into a promise, loading the hotkey flag, and the process's resource scope.
import { type Hotkey, loadHotkey } from "../actors/identity/index.js";
import type { NatsConnection, NatsLogin } from "../actors/nats/connection.js";
import { connectNats, reportOutages } from "../actors/nats/connection.js";
import { connectAsMember, joinSecuredRun, type Membership } from "../actors/gatekeeper/join.js";
import type { JoinRole } from "../machines/gatekeeper/index.js";
import { NatsUnavailable } from "../actors/eventlog/errors.js";
import { type FactJournal, serveJournal } from "../actors/swarm/journal.js";
import { setExit } from "./exit.js";
import { ConfigError, UsageError } from "./run-settings.js";

/** Connects, or throws NatsUnavailable naming the URL, the cause and the fix (exit code 1). */
export const connectOrExplain = async (url: string, name: string, member?: Membership): Promise<NatsConnection> => {
  try {
    return member === undefined ? await connectNats(url, name) : await connectAsMember(url, name, member);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new NatsUnavailable({
      message: `${why}\n  is a nats-server with JetStream running there? start one with \`swarmline nats\` (it prints its URL) and pass it as --nats`,
    });
  }
};

/** Exit code and message of a failure: 2 for bad flags/configs, 1 for everything else. */
export const explain = (e: unknown): { code: number; message: string } => {
  if (e instanceof UsageError || e instanceof ConfigError) return { code: 2, message: e.message };
  const tag = typeof e === "object" && e !== null && "_tag" in e ? `${String((e as { _tag: unknown })._tag)}: ` : "";
  return { code: 1, message: `${tag}${e instanceof Error ? e.message : String(e)}` };
};

/** A command's action: runs `body` and sets the exit code, printing a failure as `swarmline <command>: message`. */
export const swarmAction = <F>(command: string, body: (flags: F) => Promise<number>) => async (f: F): Promise<void> => {
  try {
    setExit(await body(f));
  } catch (e) {
    const { code, message } = explain(e);
    process.stderr.write(`swarmline ${command}: ${message}\n`);
    setExit(code);
  }
};

/** Resolves with the signal's name on the first SIGINT or SIGTERM; `off()` removes the handlers. */
export const onSignal = (): { readonly signal: Promise<string>; readonly off: () => void } => {
  let off: () => void = () => undefined;
  const signal = new Promise<string>((resolve) => {
    const h = (s: NodeJS.Signals): void => resolve(s);
    process.once("SIGINT", h);
    process.once("SIGTERM", h);
    off = () => {
      process.removeListener("SIGINT", h);
      process.removeListener("SIGTERM", h);
    };
  });
  return { signal, off };
};

/** Resolves on the first Ctrl-C or SIGTERM (for a foreground server: `nats`, `dashboard`). */
export const untilSignal = async (): Promise<void> => {
  const s = onSignal();
  await s.signal;
  s.off();
};

/** Exit code for a run stopped by a signal (128 + SIGINT's number, as shells report it). */
export const SIGNAL_EXIT = 130;

/** The --hotkey flag as a key, or a UsageError naming the flag (exit code 2). */
export const hotkeyFromFlag = (uri: string): Hotkey => {
  try {
    return loadHotkey(uri);
  } catch (e) {
    throw new UsageError({ message: `--hotkey "${uri}" is not a key URI or mnemonic: ${e instanceof Error ? e.message : String(e)}` });
  }
};

/** What a swarm process holds while it runs: its connection, its signal, and its cleanups (run last-first). */
export interface ProcessScope {
  readonly nc: NatsConnection;
  readonly sig: ReturnType<typeof onSignal>;
  readonly cleanups: (() => Promise<unknown>)[];
}

/** Connects, listens for signals, runs `body`, then releases everything it registered and drains the connection. */
export const withSwarmProcess = async (url: string, name: string, body: (scope: ProcessScope) => Promise<number>, member?: Membership): Promise<number> => {
  const nc = await connectOrExplain(url, name, member);
  const sig = onSignal();
  // Through a server restart or a leader change the process waits and resumes: it says so meanwhile.
  const quiet = reportOutages(nc, name, (line) => process.stderr.write(`${line}\n`));
  const cleanups: (() => Promise<unknown>)[] = [async () => quiet()];
  try {
    return await body({ nc, sig, cleanups });
  } finally {
    sig.off();
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await nc.drain().catch(() => undefined);
  }
};

/**
 * On a secured server (`swarmline nats --secure`), asks its gatekeeper to admit `hotkey` to `run`
 * as `role`; the process then logs in with the returned membership and signs with its session seed.
 * Undefined on an open server.
 */
export const membershipFor = async (secure: boolean | undefined, url: string, run: string, hotkey: Hotkey, role: JoinRole): Promise<Membership | undefined> =>
  secure === true ? joinSecuredRun(url, run, hotkey, role) : undefined;

/** Where `miner`, `orchestrate` and `validate` journal their facts by default (under the working directory). */
export const DEFAULT_JOURNAL_DIR = "swarmline-journal";

/** The --journal flag's help text. */
export const JOURNAL_FLAG_HELP =
  "where this actor journals every fact it stored (DIR/RUN/HOTKEY.jsonl): when the bus loses facts, readers ask for them and they are re-published from here";

/**
 * Opens the actor's journal under `dir` and answers the run's refill requests from it while the
 * process runs (released with the scope).
 */
export const journalFor = (scope: ProcessScope, run: string, hotkey: Hotkey, dir: string, who: string): FactJournal => {
  const served = serveJournal(scope.nc, run, hotkey.address, dir, (e) => process.stderr.write(`${who}: refused a refill request: ${e.message}\n`));
  scope.cleanups.push(async () => served.stop());
  if (served.journal.unreadable > 0) process.stderr.write(`${who}: ${served.journal.unreadable} unreadable line(s) in ${served.journal.file} (a write cut by a crash); those facts cannot be refilled\n`);
  return served.journal;
};

export type { NatsLogin };

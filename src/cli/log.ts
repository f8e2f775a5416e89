// `swarmline log ...`: a run's log as a JSONL file: export it from NATS, import it into NATS, and
// verify it offline. Each subcommand reports success through the exit code.
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { Effect, Result } from "effect";
import { NatsUnavailable } from "../actors/eventlog/errors.js";
import type { EventLog } from "../actors/eventlog/service.js";
import { importLog } from "../actors/eventlog/transfer.js";
import { natsConnection, type NatsConnection } from "../actors/nats/connection.js";
import { layerNats } from "../actors/nats/eventlog.js";
import { exportFromNats } from "../actors/nats/export.js";
import { JoinRefused } from "../actors/gatekeeper/join.js";
import { AUDITOR_HOTKEY_HELP, checkLogSource, readerConnection, SECURE_READ_HELP } from "./read-log.js";
import { registerVerify } from "./log-verify.js";
import { setExit } from "./exit.js";

/**
 * Runs `program` against the EventLog on NATS at `url` (or a function of the connection); prints a
 * failure and sets exit code 1.
 */
const onNats = async <A, E>(url: string, what: string, program: Effect.Effect<A, E, EventLog> | ((nc: NatsConnection) => Effect.Effect<A, E>)): Promise<A | undefined> => {
  const r = await Effect.runPromise(
    Effect.result(
      Effect.scoped(Effect.flatMap(natsConnection(url, `swarmline-log-${what}`), (nc) => (typeof program === "function" ? program(nc) : Effect.provide(program, layerNats(nc))))),
    ),
  );
  if (Result.isSuccess(r)) return r.success;
  const e: unknown = r.failure;
  const tag = typeof e === "object" && e !== null && "_tag" in e ? `${String(e._tag)}: ` : "";
  // An unreachable server is the commonest failure here: say how to get one, as orchestrate does.
  const fix = e instanceof NatsUnavailable ? "\n  is a nats-server with JetStream running there? check the --nats URL (`swarmline nats` starts one and prints it)" : "";
  process.stderr.write(`swarmline log ${what}: ${tag}${e instanceof Error ? e.message : String(e)}${fix}\n`);
  setExit(1);
  return undefined;
};

/** A non-negative number of seconds (a flag's value). */
const seconds = (v: string): number => {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a number of seconds >= 0");
  return n;
};

/** `log export --secure`: joins the run as an auditor, then exports over that connection; failures print and set exit 1. */
const securedExport = async <A>(opts: { nats: string; run: string; hotkey?: string }, program: (nc: NatsConnection) => Effect.Effect<A, unknown>): Promise<A | undefined> => {
  let nc: NatsConnection | undefined;
  try {
    nc = await readerConnection(opts.nats, opts.run, { secure: true, ...(opts.hotkey === undefined ? {} : { hotkey: opts.hotkey }) }, `swarmline-log-export-${opts.run}`);
    return await Effect.runPromise(program(nc));
  } catch (e) {
    const tag = typeof e === "object" && e !== null && "_tag" in e ? `${String(e._tag)}: ` : e instanceof JoinRefused ? `${e.reason}: ` : "";
    process.stderr.write(`swarmline log export: ${tag}${e instanceof Error ? e.message : String(e)}\n`);
    setExit(1);
    return undefined;
  } finally {
    await nc?.drain().catch(() => undefined);
  }
};

const registerExport = (log: Command): void => {
  log
    .command("export")
    .description(
      "Write a run's log from NATS as JSONL: a header line, then {seq, event} in stream order. A stored message that is not a valid event " +
        "(garbage or a forgery published on an actor's subject) is refused as the live readers refuse it: it becomes a " +
        '{"seq","refused":{subject,reason,detail}} line, the valid events are all kept, the refused count is reported on stderr ' +
        "(and in --json), and the exit code stays 0: the file is a complete, verifiable export. Exit 1 when the run holds nothing",
    )
    .requiredOption("--nats <url>", "NATS server URL (comma-separated for a cluster)")
    .requiredOption("--run <id>", "the run to export")
    .option("-o, --output <file>", "write to FILE instead of stdout")
    .option("--json", "print a JSON summary line on stdout (with -o): run, events, refused, reasons, refilled, deleted, file")
    .option("--refill-wait <seconds>", "how long to wait for producers to re-publish facts the stream lost, from their journals", seconds, 5)
    .option("--secure", SECURE_READ_HELP)
    .option("--hotkey <uri>", AUDITOR_HOTKEY_HELP)
    .action(async (opts: { nats: string; run: string; output?: string; json?: boolean; refillWait: number; secure?: boolean; hotkey?: string }) => {
      checkLogSource("log export", undefined, opts);
      const fd = opts.output === undefined ? 1 : openSync(opts.output, "w");
      try {
        const write = (lines: readonly string[]): void => void writeSync(fd, `${lines.join("\n")}\n`);
        const exported = (nc: NatsConnection) => exportFromNats(nc, opts.run, write, { refillWaitMs: opts.refillWait * 1000 });
        const r = opts.secure === true ? await securedExport(opts, exported) : await onNats(opts.nats, "export", exported);
        if (r === undefined) return;
        const summary = { run: opts.run, events: r.events, refused: r.refused, reasons: r.reasons, refilled: r.refilled, deleted: r.deleted, file: opts.output ?? null };
        if (opts.json === true && opts.output !== undefined) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stderr.write(`exported ${r.events} events of run ${opts.run}${opts.output === undefined ? "" : ` to ${opts.output}`}\n`);
        if (r.refilled > 0) process.stderr.write(`refilled ${r.refilled} fact(s) the stream had lost, from their producers' journals, each at its seq\n`);
        if (r.deleted.length > 0)
          process.stderr.write(`stream seq(s) ${r.deleted.join(", ")} hold no message and no producer's journal refilled them: each is a refused "Deleted" line\n`);
        if (r.refused > 0) {
          const why = Object.entries(r.reasons).map(([reason, n]) => `${n} ${reason}`).join(", ");
          process.stderr.write(`refused ${r.refused} stored message(s) that are not valid events (${why}): each is a "refused" line at its seq\n`);
        }
        if (r.events + r.refused === 0) {
          // A typo in --run or the wrong server: the header alone vouches for nothing (log verify refuses it).
          process.stderr.write(`swarmline log export: run ${opts.run} holds no events on ${opts.nats} (check --run and --nats)\n`);
          setExit(1);
        }
      } finally {
        if (fd !== 1) closeSync(fd);
      }
    });
};

const registerImport = (log: Command): void => {
  log
    .command("import")
    .description("Append an exported JSONL log to its run on NATS, in stream order (the run must be empty or hold a prefix of it)")
    .argument("<file>", "the exported log ('-' for stdin)")
    .requiredOption("--nats <url>", "NATS server URL (comma-separated for a cluster)")
    .option("--json", "print a JSON summary line")
    .action(async (file: string, opts: { nats: string; json?: boolean }) => {
      let text: string;
      try {
        text = readFileSync(file === "-" ? 0 : file, "utf8");
      } catch (e) {
        process.stderr.write(`swarmline log import: cannot read ${file}: ${e instanceof Error ? e.message : String(e)} (check the FILE path, or pass - for stdin)\n`);
        setExit(2); // the caller's to fix, as for \`log verify\`
        return;
      }
      const summary = await onNats(opts.nats, "import", importLog(text.split(/\r?\n/)));
      if (summary === undefined) return;
      if (opts.json === true) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else
        process.stdout.write(
          `imported ${summary.events - summary.skipped} events into run ${summary.run} (${summary.skipped} already there${summary.refused > 0 ? `; ${summary.refused} refused messages left out, later events move down` : ""})\n`,
        );
    });
};

/** Registers `log` and its subcommands; returns the `log` command so others can add to it. */
export const registerLog = (program: Command): Command => {
  const log = program.command("log").description("A run's log as a JSONL file: export, import, verify");
  registerExport(log);
  registerImport(log);
  registerVerify(log);
  return log;
};

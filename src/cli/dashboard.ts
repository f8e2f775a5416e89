// `swarmline dashboard`: serves a web page of a run (loss and tokens/s curves, the pipeline's
// wiring and traffic, merge rounds, faults on a timeline, scores and weights, and a time slider
// that re-folds the state at any fact), from an exported log or live from a run on NATS.
import { type Command, InvalidArgumentError } from "commander";
import { type Dashboard, startDashboard } from "../actors/dashboard/server.js";
import { fileSource, natsSource, SourceUnreadable } from "../actors/dashboard/sources.js";
import { setExit } from "./exit.js";
import { checkRunId, UsageError } from "./run-settings.js";
import { untilSignal } from "./swarm-process.js";

type Flags = { log?: string; nats?: string; run?: string; port: number; host: string; json?: boolean };

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("expected a port number 0-65535 (0: a free one)");
  return n;
};

const serve = async (f: Flags): Promise<number> => {
  if (f.log !== undefined && (f.nats !== undefined || f.run !== undefined)) throw new UsageError({ message: "dashboard takes either --log FILE or --nats URL --run ID, not both" });
  if ((f.nats === undefined) !== (f.run === undefined)) throw new UsageError({ message: "--nats and --run go together: the server holding the run, and the run" });
  if (f.log === undefined && f.nats === undefined) throw new UsageError({ message: "dashboard needs a run: --log FILE (an exported JSONL log) or --nats URL --run ID (live)" });
  let dash: Dashboard;
  try {
    const source = f.log !== undefined ? fileSource(f.log) : await natsSource(f.nats as string, checkRunId(f.run as string));
    dash = await startDashboard({ source, port: f.port, host: f.host });
  } catch (e) {
    if (e instanceof SourceUnreadable) throw new UsageError({ message: e.message });
    if (e instanceof Error && "code" in e && e.code === "EADDRINUSE") throw new UsageError({ message: `port ${f.port} is taken: pass another --port (0 picks a free one)` });
    throw e;
  }
  if (f.json === true) process.stdout.write(`${JSON.stringify({ url: dash.url, facts: dash.facts() })}\n`);
  else {
    process.stdout.write(`${dash.url}\n`);
    process.stderr.write(`dashboard of ${f.log ?? `run ${f.run} on ${f.nats} (live)`}: ${dash.facts()} facts; Ctrl-C stops it\n`);
  }
  await untilSignal();
  await dash.close();
  return 0;
};

export const registerDashboard = (program: Command): void => {
  program
    .command("dashboard")
    .description("Serve a web page of a run: loss and tokens/s, the pipeline, merges, faults, scores and a time slider; live from NATS or from a log")
    .option("--log <file>", "an exported JSONL log (`sim --log`, `log export`)")
    .option("--nats <url>", "follow a run on this NATS server live (with --run)")
    .option("--run <id>", "the run (with --nats)")
    .option("--port <port>", "HTTP port (0: a free one)", port, 8470)
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("--json", "print {url, facts} as one JSON line")
    .action(async (f: Flags) => {
      setExit(await serve(f));
    });
};

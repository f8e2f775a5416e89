// `swarmline sim`: an orchestrator and N miners in one process on an embedded NATS (or --nats URL),
// training one GPT on the State of the Union corpus with merges and optional faults; a live
// progress display, --log (the run's log as verifiable JSONL) and --json (the run's figures).
import { writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { DEFAULT_MERGE_EVERY, DEFAULT_MERGE_INTERVAL, DEFAULT_SNAPSHOT_CODEC } from "../actors/swarm/run-config.js";
import { ADVERSARY_KINDS, type AdversaryKind } from "../actors/swarm/adversary.js";
import { runDeterministicSim } from "../actors/swarm/det-run.js";
import { type KillAt, runSwarmSim, type SimOptions, type SimProgress } from "../actors/swarm/sim-run.js";
import type { CpuUse } from "../actors/swarm/cpu.js";
import { phaseLine } from "../actors/swarm/phases.js";
import type { MergeInterval } from "../events/swarm/index.js";
import type { SnapshotCodec } from "../machines/protocol/index.js";
import type { WireDtype } from "../kernels/codec/format.js";
import { DEFAULT_CONFIG, validateConfig } from "../kernels/model/config.js";
import { DEFAULT_TRAIN } from "../kernels/train/options.js";
import { setExit } from "./exit.js";
import { parseClusterSize } from "./nats-cluster.js";
import { flagSettings, MERGE_INTERVALS, outerOf, readRunFile, SNAPSHOT_CODECS, UsageError } from "./run-settings.js";

type Flags = {
  miners: string; stages: string; steps: string; microbatches?: string; seed: string; batch: string; seq: string; dModel: string; layers: string;
  heads: string; bottleneck: string; quant: WireDtype; mergeEvery: string; mergeInterval: MergeInterval; snapshotCodec: SnapshotCodec; partitions: string; inFlight?: string; lr: string; killMiner: string[]; cluster?: string; killNode: string[]; leaseTicks?: string; heartbeatTimeoutTicks?: string;
  dropout: string; adversary: string[]; window?: string; spotChecks: string; validator: boolean; sync?: boolean; pauseMerges?: boolean; outerLr?: string; outerMomentum?: string; log?: string; head?: string; journal?: string; json?: string; nats?: string; secure?: boolean; evalEvery: string; workers: string; threads: string; tickMs: string;
  deterministic?: boolean; config?: string;
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

/** `I@STEP`: SIGKILL the sim's own server node I (1-based, or `leader`: the facts stream's) once STEP microbatches completed (restarted 3 s later). */
export const parseKillNode = (v: string): { node: number | "leader"; step: number } => {
  const m = /^(\d+|leader)@(\d+)$/.exec(v);
  if (m === null || m[1] === "0") throw new UsageError({ message: `--kill-node expects I@STEP with I a node from 1 or "leader" (e.g. 2@40, leader@40), got "${v}"` });
  return { node: m[1] === "leader" ? "leader" : Number(m[1]), step: Number(m[2]) };
};

/** `KIND@ID`: miner ID (index or //URI) is an adversary of KIND. */
export const parseAdversary = (v: string): { kind: AdversaryKind; miner: string } => {
  const at = v.indexOf("@");
  const kind = v.slice(0, at);
  const miner = v.slice(at + 1);
  if (at <= 0 || miner === "" || !(ADVERSARY_KINDS as readonly string[]).includes(kind))
    throw new UsageError({ message: `--adversary expects KIND@ID with KIND one of ${ADVERSARY_KINDS.join(", ")} (e.g. noise@2), got "${v}"` });
  return { kind: kind as AdversaryKind, miner };
};

/** SimOptions from the flags. `--sync` forces one miner per stage, fp32 and no bottleneck. */
export const simOptionsFromFlags = (f: Flags): SimOptions => {
  checkSecure(f);
  const sync = f.sync === true;
  const stages = int("stages", f.stages);
  const bottleneck = f.bottleneck === "none" || sync ? null : int("bottleneck", f.bottleneck);
  const dropout = Number(f.dropout);
  if (!(dropout >= 0 && dropout < 1)) throw new UsageError({ message: `--dropout must be in [0, 1), got "${f.dropout}"` });
  const lr = Number(f.lr);
  if (!(lr > 0)) throw new UsageError({ message: `--lr must be > 0, got "${f.lr}"` });
  const outer = outerFromFlags(f);
  const cluster = f.cluster === undefined ? undefined : parseClusterSize(f.cluster);
  const killNode = f.killNode.map(parseKillNode);
  if (cluster !== undefined && (f.nats !== undefined || f.secure === true)) throw new UsageError({ message: `--cluster runs the sim's own open cluster: drop ${f.nats !== undefined ? "--nats" : "--secure"}` });
  if (killNode.length > 0 && f.nats !== undefined) throw new UsageError({ message: "--kill-node kills the sim's own server nodes: drop --nats (and use --cluster 3 for a cluster)" });
  const nodes = cluster ?? 1;
  const beyond = killNode.find((k) => k.node !== "leader" && k.node > nodes);
  if (beyond !== undefined) throw new UsageError({ message: `--kill-node ${beyond.node}@${beyond.step}: the sim runs ${nodes} node${nodes === 1 ? "" : "s"} (1..${nodes})` });
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
    mergeInterval: f.mergeInterval,
    snapshotCodec: f.snapshotCodec,
    overlapMerges: f.pauseMerges !== true,
    partitions: int("partitions", f.partitions),
    ...(f.inFlight === undefined ? {} : { maxInFlight: int("in-flight", f.inFlight) }),
    ...(outer === undefined ? {} : { outer }),
    kill: f.killMiner.map(parseKill),
    adversaries: f.adversary.map(parseAdversary),
    validator: f.validator === false ? false : {
      ...(f.window === undefined ? {} : { window: int("window", f.window) }),
      spotPerMiner: int("spot-checks", f.spotChecks, 0),
    },
    dropout,
    evalEvery: int("eval-every", f.evalEvery),
    workers: int("workers", f.workers),
    threads: int("threads", f.threads),
    tickMs: int("tick-ms", f.tickMs),
    ...(f.nats === undefined ? {} : { nats: f.nats }),
    ...(f.secure === true ? { secure: true } : {}),
    ...(f.head === undefined ? {} : { headFile: f.head }),
    ...(f.journal === undefined ? {} : { journalDir: f.journal }),
    ...(f.leaseTicks === undefined ? {} : { leaseTicks: int("lease-ticks", f.leaseTicks) }),
    ...(f.heartbeatTimeoutTicks === undefined ? {} : { heartbeatTimeoutTicks: int("heartbeat-timeout-ticks", f.heartbeatTimeoutTicks) }),
    ...(cluster === undefined ? {} : { cluster }),
    ...(killNode.length === 0 ? {} : { killNode }),
  };
};

/**
 * The flags with a run file's settings (`--config run.json`, what `orchestrate --config` reads)
 * filled in where the command line gave none: a flag on the command line wins over the file, the
 * file over the defaults. `steps` also sets --microbatches' value unless that was given. `extra`:
 * the file's settings sim has no flag for.
 */
export const withRunFile = (f: Flags, onCommandLine: (flag: string) => boolean): { flags: Flags; extra: { warmup?: number; microbatchesPerStep?: number } } => {
  if (f.config === undefined) return { flags: f, extra: {} };
  const file = readRunFile(f.config);
  const out: Record<string, unknown> = { ...f };
  for (const [k, v] of Object.entries(file)) {
    if (v === undefined || onCommandLine(k) || k === "warmup" || k === "microbatchesPerStep") continue;
    if (k === "steps" && onCommandLine("microbatches")) continue;
    out[k] = v === null ? "none" : typeof v === "boolean" ? v : String(v);
  }
  const extra = { ...(file.warmup === undefined ? {} : { warmup: file.warmup }), ...(file.microbatchesPerStep === undefined ? {} : { microbatchesPerStep: file.microbatchesPerStep }) };
  return { flags: out as Flags, extra };
};

/** --deterministic runs without a bus and with one ORT thread: flags that need either are refused, not ignored. */
const checkDeterministic = (f: Flags): void => {
  if (f.deterministic !== true) return;
  if (f.nats !== undefined || f.secure === true) throw new UsageError({ message: "--deterministic runs in one loop without NATS: drop --nats and --secure" });
  if (f.threads !== "1") throw new UsageError({ message: "--deterministic runs ORT on one intra-op thread: drop --threads" });
  if (f.head !== undefined) throw new UsageError({ message: "--deterministic writes no --head file (its log is reproduced from the seed): drop --head" });
};

/** --secure needs the sim's own server: it rewrites that server's authorization as miners join. */
const checkSecure = (f: Pick<Flags, "secure" | "nats">): void => {
  if (f.secure === true && f.nats !== undefined) throw new UsageError({ message: "--secure runs on the sim's own embedded server (it rewrites its authorization as miners join): drop --nats" });
};

/** DiLoCo's outer step from --outer-lr / --outer-momentum (either turns it on; defaults 0.7 and 0.9). */
export const outerFromFlags = (f: Pick<Flags, "outerLr" | "outerMomentum">): { lr: number; momentum: number } | undefined =>
  outerOf(flagSettings({ outerLr: f.outerLr, outerMomentum: f.outerMomentum }));

/** Core-seconds while training: this process (user / kernel) and its own nats-servers, and the cores that averages. */
export const cpuLine = (c: CpuUse): string =>
  `${(c.userSeconds + c.systemSeconds).toFixed(1)} s in the sim (user ${c.userSeconds.toFixed(1)}, system ${c.systemSeconds.toFixed(1)})` +
  `${c.childSeconds === null ? "" : `, ${c.childSeconds.toFixed(1)} s in nats-server`} over ${c.wallSeconds.toFixed(1)} s: ${c.cores.toFixed(2)} cores`;

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
    .option("--merge-every <n>", "a stage merges after this many backward passes (at the peak learning rate, with --merge-interval lr-scaled)", String(DEFAULT_MERGE_EVERY))
    .addOption(new Option("--merge-interval <how>", "fixed: every --merge-every passes; lr-scaled: stretched by peak lr ÷ the current lr, at most 4x").choices(MERGE_INTERVALS).default(DEFAULT_MERGE_INTERVAL))
    .addOption(new Option("--snapshot-codec <codec>", "how a merge participant sends its weights: bf16 (2 bytes a value, rounded to nearest even) or f32").choices(SNAPSHOT_CODECS).default(DEFAULT_SNAPSHOT_CODEC))
    .option("--outer-lr <x>", "merge with DiLoCo's outer Nesterov step at this outer learning rate (default: plain averaging)")
    .option("--outer-momentum <x>", "outer Nesterov momentum (with --outer-lr; default 0.9)")
    .option("--partitions <n>", "Butterfly All-Reduce partitions per merge", "8")
    .option("--in-flight <n>", "microbatch leases in flight (default: one per stage)")
    .option("--pause-merges", "hold a stage's work while it merges (default: training overlaps merges; each miner adopts merged + its progress since)")
    .option("--kill-miner <ID@STEP|ID@merge>", "kill miner ID (index or //MinerK) after STEP completed microbatches, or with ID@merge mid-merge: once it sent its partitions, holding its reducer duties (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--adversary <KIND@ID>", `make miner ID (index or //MinerK) an adversary: ${ADVERSARY_KINDS.join(", ")} (repeatable; see README "Adversaries")`, (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--window <n>", "a scoring window closes every N completed microbatches (default: half the run, at most 96: miners keep the weights of their last 96 steps for checks)")
    .option("--spot-checks <n>", "pipeline spot checks per miner per window", "2")
    .option("--no-validator", "run without a validator (no scores, spot checks or payouts)")
    .option("--dropout <p>", "per clock tick, the probability each miner dies (it rejoins ~3 s later)", "0")
    .option("--sync", "synchronous schedule: one miner per stage, fp32, no bottleneck, one lease in flight (equals `swarmline train`)")
    .option("--eval-every <n>", "validate the composed model every N microbatches", "40")
    .option("--workers <n>", "kernel worker threads", "2")
    .option("--threads <n>", "ORT intra-op threads per worker", "1")
    .option("--tick-ms <n>", "milliseconds between recorded clock ticks", "100")
    .option("--nats <url>", "use this NATS server instead of an embedded one (comma-separated for a cluster)")
    .option("--lease-ticks <n>", "a lease not completed after this many clock ticks is reissued (default 600)")
    .option("--heartbeat-timeout-ticks <n>", "a miner silent this many clock ticks is timed out (default 50)")
    .option("--cluster <n>", "run on an embedded cluster of N nodes (3 to 7) on loopback; the run's streams get 3 replicas")
    .option("--kill-node <I@STEP>", "SIGKILL the sim's own server node I (1-based; 1 without --cluster; `leader`: the facts stream's leader) after STEP completed microbatches and restart it 3 s later on the same port and store (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--secure", "per-actor NATS permissions: the embedded server admits each miner and the validator through a gatekeeper (nkey = its certified session key), confined to its own subjects")
    .option("--deterministic", "virtual clock and seeded scheduler: the orchestrator, miners (real kernels, one ORT thread) and validator take turns in one loop, so the same flags write a byte-identical --log; no NATS (tokens/s is of this loop, not of a swarm)")
    .option("--log <file>", "export the run's log as JSONL (check it with `swarmline log verify`)")
    .option("--config <file>", "run.json: settings named like the flags, camelCased (e.g. {\"stages\": 2, \"dModel\": 64, \"mergeEvery\": 12}), as `orchestrate --config` reads; flags on the command line override it")
    .option("--journal <dir>", "keep every actor's journal of stored facts here (DIR/RUN/HOTKEY.jsonl; default a temporary directory removed at the end); lost facts are refilled from them")
    .option("--head <file>", "append the orchestrator's signed log heads to FILE at every scoring window and at completion (`log verify --head FILE` then catches a log cut at its end)")
    .option("--json <file>", "write {runId, steps, tokens, tokensPerSecond, valBpb, lossCurve, compressionRatio, merges, microbatches, events, scores, adversaries, validator, cpu, phases}")
    .action(async (flags: Flags, cmd: Command) => {
      const { flags: f, extra } = withRunFile(flags, (name) => cmd.getOptionValueSource(name) === "cli");
      checkDeterministic(f);
      const o = { ...simOptionsFromFlags(f), ...extra };
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
      const r = await (f.deterministic === true ? runDeterministicSim : runSwarmSim)({ ...o, onProgress, ...(f.log === undefined ? {} : { logLines: (ls: readonly string[]) => { logLines.push(...ls); } }) });
      if (tty) process.stderr.write("\n");
      if (f.log !== undefined) writeFileSync(f.log, `${logLines.join("\n")}\n`);
      const out = {
        runId: r.runId, steps: r.steps, tokens: r.tokens, tokensPerSecond: r.tokensPerSecond, valBpb: r.valBpb, lossCurve: r.lossCurve,
        compressionRatio: r.compressionRatio, merges: r.merges, microbatches: r.microbatches, events: r.events,
        scores: Object.fromEntries(Object.entries(r.scores).map(([m, x]) => [m, { contribution: x.contribution, ci: x.ci, flagged: x.flagged, weight: x.weight, reasons: x.reasons, spotChecks: x.spotChecks }])),
        adversaries: r.adversaries, ...(r.validator === undefined ? {} : { validator: r.validator }), ...(r.cpu === undefined ? {} : { cpu: r.cpu }),
        ...(r.phases === undefined ? {} : { phases: r.phases }),
      };
      if (f.json !== undefined) writeFileSync(f.json, `${JSON.stringify(out)}\n`);
      process.stdout.write(
        `run ${r.runId}: ${r.steps} microbatches, ${r.tokens} tokens, ${r.tokensPerSecond.toFixed(0)} tok/s, val_bpb ${fmt(r.valBpb, 4)}, ` +
          `compression ${r.compressionRatio.toFixed(1)}x, merges ${r.merges.done} (skipped ${r.merges.skipped}, disputes ${r.merges.disputes}), ` +
          `microbatches issued ${r.microbatches.issued} completed ${r.microbatches.completed} reissued ${r.microbatches.reissued} lost ${r.microbatches.lost}, ${r.events} events\n`,
      );
      if (r.cpu !== undefined) process.stdout.write(`  cpu while training: ${cpuLine(r.cpu)}\n`);
      if (r.phases !== undefined) process.stdout.write(`  wall ms by phase (medians, as the feed saw the facts): ${phaseLine(r.phases)}\n`);
      for (const [m, x] of Object.entries(r.scores))
        if (x.flagged || r.adversaries.includes(m))
          process.stdout.write(`  ${r.adversaries.includes(m) ? "adversary" : "miner"} ${m.slice(0, 10)}: ${x.flagged ? `flagged (${x.reasons.join(", ")})` : "NOT flagged"}, weight ${(100 * x.weight).toFixed(2)}%\n`);
      for (const v of r.violations) process.stderr.write(`violation: ${v}\n`);
      setExit(r.violations.length === 0 && r.microbatches.lost === 0 ? 0 : 1);
    });
};

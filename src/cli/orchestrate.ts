// `swarmline orchestrate`: the orchestrator of one run as its own OS process over a NATS URL. It
// starts the run (settings from --config run.json and flags) or, when the log already holds the
// run, resumes it: the decider's state is the fold of the log, and its chain continues under a newly
// certified session key. Miners are separate `swarmline miner` processes.
import { randomBytes } from "node:crypto";
import { type Command, Option } from "commander";
import { Effect } from "effect";
import { cryptoReady } from "../actors/identity/index.js";
import { natsBlobStore } from "../actors/nats/blobs.js";
import { ensureDataStream } from "../actors/nats/data-channel.js";
import { makeNatsEventLog } from "../actors/nats/eventlog.js";
import { StageKernels } from "../actors/swarm/stage-kernels.js";
import { logWeights, validationBpb, valBatches } from "../actors/swarm/evaluate.js";
import { startHeadAnchors } from "../actors/swarm/anchor.js";
import { type ChainAnchors, startChainAnchors } from "../actors/chain/anchor.js";
import { connectChain } from "../actors/chain/connect.js";
import { parseNetuid } from "./metagraph.js";
import { hotkeyPair } from "../actors/chain/keys.js";
import { startRunFeed, type RunFeed } from "../actors/swarm/feed.js";
import { readModel } from "../actors/swarm/model.js";
import { startOrchestratorHost } from "../actors/swarm/orchestrator-host.js";
import { buildRunConfig } from "../actors/swarm/run-config.js";
import { RunStats } from "../actors/swarm/stats.js";
import { sotuCorpus } from "../kernels/data/corpus.js";
import { KernelPool } from "../kernels/runtime/pool.js";
import type { OrchestratorState } from "../machines/orchestrator/index.js";
import { checkRunId, flagSettings, MERGE_INTERVALS, readRunFile, RUN_DEFAULTS, settingsOf, SNAPSHOT_CODECS, UsageError } from "./run-settings.js";
import { DEFAULT_JOURNAL_DIR, hotkeyFromFlag, JOURNAL_FLAG_HELP, journalFor, membershipFor, SIGNAL_EXIT, swarmAction, withSwarmProcess } from "./swarm-process.js";

type Flags = Record<string, unknown> & { nats: string; config?: string; run?: string; hotkey: string; tickMs: string; json?: boolean; evalEvery: string; evalBatches: string; secure?: boolean; head?: string; journal: string; chain?: string; netuid?: string };

/** The summary printed at the end (stdout; one JSON line with --json). */
export interface OrchestrateSummary {
  readonly runId: string;
  readonly resumed: boolean;
  readonly completed: boolean;
  readonly steps: number;
  readonly tokens: number;
  /** Tokens per second of this process's session (since it started or resumed). */
  readonly tokensPerSecond: number;
  readonly microbatches: { readonly issued: number; readonly completed: number; readonly reissued: number };
  readonly merges: { readonly done: number; readonly skipped: number; readonly disputes: number };
  readonly minersPerStage: readonly number[];
  readonly events: number;
  /** With --eval-every: validation bpb of the weights the log names, last and at each evaluation ([tokens, bpb]). */
  readonly valBpb?: number;
  readonly lossCurve?: readonly (readonly [number, number])[];
}

const minersPerStage = (v: OrchestratorState): number[] =>
  v.stages.map((_, s) => Object.values(v.miners).filter((m) => m.status === "active" && m.stage === s).length);

const summaryOf = (run: string, resumed: boolean, feed: RunFeed, tokens0: number, secs: number, curve?: readonly [number, number][]): OrchestrateSummary => {
  const v = feed.view();
  const c = v.counters;
  return {
    runId: run, resumed, completed: v.done, steps: c.completed, tokens: c.tokens, tokensPerSecond: secs > 0 ? (c.tokens - tokens0) / secs : 0,
    microbatches: { issued: c.issued, completed: c.completed, reissued: c.reissued },
    merges: { done: c.mergesDone, skipped: c.partitionsSkipped, disputes: c.disputes }, minersPerStage: minersPerStage(v), events: feed.events(),
    ...(curve === undefined ? {} : { valBpb: curve[curve.length - 1]?.[1] ?? Number.NaN, lossCurve: curve }),
  };
};

const fmt = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(3));

/** --chain URL --netuid N (with --head): where the anchors are also committed. */
const chainFlags = (f: Flags): { url: string; netuid: number } | undefined => {
  if (f.chain === undefined && f.netuid === undefined) return undefined;
  if (f.chain === undefined || f.netuid === undefined) throw new UsageError({ message: "--chain and --netuid go together: the subtensor node and the subnet to commit the anchors on" });
  if (f.head === undefined) throw new UsageError({ message: "--chain commits the anchors --head writes: add --head FILE" });
  if (!/^wss?:\/\//.test(f.chain)) throw new UsageError({ message: `--chain must be a ws:// or wss:// URL of a subtensor node, got "${f.chain}"` });
  return { url: f.chain, netuid: parseNetuid(f.netuid) };
};

/** Connects to the chain and commits anchors with the orchestrator's hotkey (a failure is a line on stderr; the run goes on). */
const openChainAnchors = async (url: string, uri: string, netuid: number, cleanups: (() => Promise<unknown>)[]): Promise<ChainAnchors> => {
  const api = await connectChain(url);
  cleanups.push(() => api.disconnect());
  return startChainAnchors(api, await hotkeyPair(uri), netuid, (e) => process.stderr.write(`orchestrate: anchor not committed on subnet ${netuid}: ${e instanceof Error ? e.message : String(e)}\n`));
};

const orchestrate = async (f: Flags): Promise<number> => {
  const tickMs = Number(f.tickMs);
  if (!Number.isInteger(tickMs) || tickMs < 1) throw new UsageError({ message: `--tick-ms must be an integer >= 1, got "${f.tickMs}"` });
  const evalEvery = Number(f.evalEvery);
  const evalCount = Number(f.evalBatches);
  if (!Number.isInteger(evalEvery) || evalEvery < 0) throw new UsageError({ message: `--eval-every must be an integer >= 0 (0: off), got "${f.evalEvery}"` });
  if (!Number.isInteger(evalCount) || evalCount < 1) throw new UsageError({ message: `--eval-batches must be an integer >= 1, got "${f.evalBatches}"` });
  const settings = settingsOf(f.config === undefined ? {} : readRunFile(f.config), flagSettings(f));
  const run = checkRunId(f.run ?? `run-${settings.seed}-${randomBytes(3).toString("hex")}`);
  await cryptoReady();
  const hotkey = hotkeyFromFlag(f.hotkey);
  const chain = chainFlags(f);
  const member = await membershipFor(f.secure, f.nats, run, hotkey, "orchestrator");
  return withSwarmProcess(f.nats, `swarmline-orchestrate-${run}`, async (scope) => {
    const { nc, sig, cleanups } = scope;
    // Served before the feed reads: a resumed orchestrator refills its own lost facts from it too.
    const journal = journalFor(scope, run, hotkey, f.journal, "orchestrate");
    const log = makeNatsEventLog(nc);
    const feed = await startRunFeed(nc, run);
    cleanups.push(() => feed.stop());
    await feed.reached(await Effect.runPromise(log.lastSeq(run)));
    const before = feed.view();
    const resumed = before.config !== null;
    if (resumed && before.config?.orchestrator !== hotkey.address) {
      throw new UsageError({ message: `run ${run} is orchestrated by ${before.config?.orchestrator}, not ${hotkey.address}: pass that orchestrator's --hotkey` });
    }
    const blobs = await natsBlobStore(nc, run, { writer: hotkey.address });
    // The run's streams are the orchestrator's to create: on a secured server members may not.
    await ensureDataStream(nc, run);
    const config = resumed ? undefined : await buildRunConfig({ run, orchestrator: hotkey.address, settings, blobs });
    const model = readModel(before.config ?? (config as NonNullable<typeof config>));
    const total = (before.config ?? config)?.schedule.totalMicrobatches ?? settings.microbatches;
    process.stderr.write(
      resumed
        ? `resuming run ${run} from its log: ${before.counters.completed}/${total} microbatches done, tick ${before.tick} (the log's config wins over flags)\n`
        : `starting run ${run}: ${total} microbatches, ${model.gpt.stages} stages, orchestrator ${hotkey.address}\n` +
            `  miners join with: swarmline miner --nats ${f.nats} --run ${run} --hotkey //MinerK\n`,
    );
    const stats = new RunStats(model);
    feed.listen((i) => stats.observe(i.fact));
    // Appended to (a resumed run keeps its earlier anchors); every 50 microbatches without a validator's window.
    // With --chain, each anchor is also committed on the subnet (Commitments pallet) as its rate limit allows.
    const onChain = chain === undefined ? undefined : await openChainAnchors(chain.url, f.hotkey, chain.netuid, cleanups);
    const anchors = f.head === undefined ? undefined : startHeadAnchors({
      feed, hotkey, file: f.head, every: 50, ...(onChain === undefined ? {} : { onAnchor: (a) => onChain.onAnchor(a) }),
      onError: (e) => process.stderr.write(`orchestrate: cannot write --head ${f.head}: ${e instanceof Error ? e.message : String(e)}\n`),
    });
    cleanups.push(async () => anchors?.stop());
    const started = performance.now();
    const tokens0 = before.counters.tokens;
    if (before.done) {
      if (f.json === true) process.stdout.write(`${JSON.stringify(summaryOf(run, true, feed, tokens0, 0))}\n`);
      else process.stdout.write(`run ${run} already completed\n`);
      return 0;
    }
    let lastPrinted = -1;
    const every = Math.max(1, Math.floor(total / 50));
    const unlisten = feed.listen(({ view }) => {
      const c = view.counters.completed;
      if (c === lastPrinted || (c - lastPrinted < every && c !== total)) return;
      lastPrinted = c;
      const secs = (performance.now() - started) / 1000;
      process.stderr.write(
        `step ${c}/${total} loss ${fmt(stats.lastLoss())} tok/s ${(secs > 0 ? (view.counters.tokens - tokens0) / secs : 0).toFixed(0)} ` +
          `miners/stage ${minersPerStage(view).join(",")} merges ${view.counters.mergesDone} reissued ${view.counters.reissued}\n`,
      );
    });
    cleanups.push(async () => unlisten());

    // Validation of the weights the log names (no miner needed), every --eval-every microbatches and at the end.
    let curve: [number, number][] | undefined;
    let evals: Promise<void> = Promise.resolve();
    let evaluate = (_tokens: number): void => undefined;
    if (evalEvery > 0) {
      const pool = await KernelPool.create({ workers: 1, threadsPerWorker: 1 });
      cleanups.push(() => pool.close());
      const kernels = new StageKernels(pool, model.gpt, `${run}-eval`);
      cleanups.push(() => kernels.release());
      const batches = valBatches(sotuCorpus(), model, evalCount);
      const points: [number, number][] = [];
      curve = points;
      evaluate = (tokens) => {
        const view = feed.view(); // the refs as of now; the blobs are read in turn
        evals = evals.then(async () => {
          const bpb = await validationBpb(kernels, await logWeights(blobs, model, view), batches);
          points.push([tokens, bpb]);
          process.stderr.write(`val bpb ${bpb.toFixed(3)} at ${tokens} tokens (the log's weights)\n`);
        }).catch((e: unknown) => {
          process.stderr.write(`orchestrate: validation failed: ${e instanceof Error ? e.message : String(e)}\n`);
        });
      };
      let next = (Math.floor(before.counters.completed / evalEvery) + 1) * evalEvery;
      const stopEvals = feed.listen(({ fact, view }) => {
        if (fact.type !== "MicrobatchCompleted" || view.counters.completed < next || view.counters.completed >= total) return;
        next = (Math.floor(view.counters.completed / evalEvery) + 1) * evalEvery;
        evaluate(view.counters.tokens);
      });
      cleanups.push(async () => stopEvals());
    }
    const host = await startOrchestratorHost({ feed, log, hotkey, tickMs, journal, ...(config === undefined ? {} : { config }), ...(member === undefined ? {} : { sessionSeed: member.sessionSeed }) });
    cleanups.push(() => host.stop());
    const outcome = await Promise.race([
      host.done.then(() => "done" as const),
      feed.done.then(() => { throw new Error("the run feed stopped (NATS connection closed?)"); }),
      sig.signal,
    ]);
    await host.stop();
    if (onChain !== undefined && outcome === "done") {
      const c = await onChain.final({ onWait: (m) => process.stderr.write(`orchestrate: ${m}\n`) });
      if (c !== undefined) process.stderr.write(`orchestrate: the run's last anchor is on subnet ${chain?.netuid}: ${c.value} in block ${c.block}\n`);
    }
    const secs = (performance.now() - started) / 1000;
    if (outcome === "done") evaluate(feed.view().counters.tokens);
    await evals;
    const summary = summaryOf(run, resumed, feed, tokens0, secs, curve);
    if (f.json === true) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        `run ${run} ${summary.completed ? "completed" : "stopped (resume it with the same --run)"}: ${summary.steps} microbatches, ${summary.tokens} tokens, ` +
          `reissued ${summary.microbatches.reissued}, merges ${summary.merges.done}, ${summary.events} events\n`,
      );
    }
    return outcome === "done" ? 0 : SIGNAL_EXIT;
  }, member);
};

export const registerOrchestrate = (program: Command): void => {
  const d = RUN_DEFAULTS;
  program
    .command("orchestrate")
    .description("Run (or resume) one swarm run's orchestrator over NATS; miners join with `swarmline miner`. Restart it with the same --run to resume from the log.")
    .requiredOption("--nats <url>", "NATS server URL (comma-separated for a cluster)")
    .option("--config <file>", "run.json: settings named like these flags, camelCased (e.g. {\"stages\": 2, \"dModel\": 64}); flags override it")
    .option("--run <id>", "run id (default run-SEED-RANDOM); an existing run is resumed from its log")
    .option("--hotkey <uri>", "the orchestrator's hotkey (key URI or mnemonic)", "//Alice")
    .option("--steps <n>", `microbatches to train on (default ${d.steps})`)
    .option("--seed <n>", `run seed: init, data order, routing, merges (default ${d.seed})`)
    .option("--stages <n>", `pipeline stages (default ${d.stages})`)
    .option("--layers <n>", `transformer blocks, >= stages (default ${d.layers})`)
    .option("--d-model <n>", `model width (default ${d.dModel})`)
    .option("--heads <n>", `attention heads (default ${d.heads})`)
    .option("--seq <n>", `context length in bytes (default ${d.seq})`)
    .option("--batch <n>", `sequences per microbatch (default ${d.batch})`)
    .option("--bottleneck <b>", `IOTA bottleneck width at stage boundaries, or none (default ${d.bottleneck})`)
    .addOption(new Option("--quant <type>", `wire type of boundary tensors (default ${d.quant})`).choices(["fp32", "fp16", "int8"]))
    .option("--lr <x>", `peak AdamW learning rate (default ${d.lr})`)
    .option("--warmup <n>", `warmup steps (default ${d.warmup})`)
    .option("--merge-every <n>", `a stage merges after this many backward passes (at the peak learning rate, with --merge-interval lr-scaled; default ${d.mergeEvery})`)
    .addOption(new Option("--merge-interval <how>", `fixed: every --merge-every passes; lr-scaled: stretched by peak lr ÷ the current lr, at most 4x (default ${d.mergeInterval})`).choices(MERGE_INTERVALS))
    .addOption(new Option("--snapshot-codec <codec>", `how a merge participant sends its weights: bf16 (2 bytes a value) or f32 (default ${d.snapshotCodec})`).choices(SNAPSHOT_CODECS))
    .option("--partitions <n>", `Butterfly All-Reduce partitions per merge (default ${d.partitions})`)
    .option("--outer-lr <x>", "merge with DiLoCo's outer Nesterov step at this learning rate (default: plain averaging; 0.7 when only --outer-momentum is given)")
    .option("--outer-momentum <x>", "the outer step's momentum (default 0.9)")
    .option("--in-flight <n>", "microbatch leases in flight (default one per stage)")
    .option("--microbatches-per-step <n>", `microbatches a miner accumulates per optimizer step (default ${d.microbatchesPerStep})`)
    .option("--lease-ticks <n>", `a lease not completed after this many ticks is reissued (default ${d.leaseTicks})`)
    .option("--heartbeat-timeout-ticks <n>", `a miner silent this many ticks is timed out (default ${d.heartbeatTimeoutTicks})`)
    .option("--sync", "synchronous schedule: one lease in flight, fp32, no bottleneck, no merges")
    .option("--pause-merges", "hold a stage's work while it merges (default: training overlaps merges; each miner adopts merged + its progress since)")
    .option("--tick-ms <n>", "milliseconds between recorded clock ticks", "100")
    .option("--eval-every <n>", "validate the weights the log names every N microbatches and at the end, in bits per byte (0: off; runs ORT in this process)", "0")
    .option("--eval-batches <n>", "validation batches per evaluation", "8")
    .option("--secure", "the server is secured (`swarmline nats --secure`): join through its gatekeeper (the hotkey must be one of its --orchestrator addresses, or on its allow-list as orchestrator)")
    .option("--journal <dir>", JOURNAL_FLAG_HELP, DEFAULT_JOURNAL_DIR)
    .option("--chain <url>", "with --head and --netuid: also commit each anchor on this subtensor node (ws:// or wss://) through the Commitments pallet, as its rate limit allows; the run's last one is committed before exit (`log verify --head FILE --chain URL --netuid N` checks it)")
    .option("--netuid <n>", "the subnet whose commitment holds the anchors (with --chain; the hotkey must be registered on it)")
    .option("--head <file>", "append signed log heads to FILE at every scoring window and at completion (`log verify --head FILE` catches a log cut at its end)")
    .option("--json", "print the final summary as one JSON line on stdout")
    .action(swarmAction("orchestrate", orchestrate));
};

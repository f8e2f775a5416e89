// `swarmline miner`: one miner as its own OS process over a NATS URL. It certifies a session key
// under its hotkey, joins the run (the orchestrator assigns its stage), trains with ORT kernels in a
// worker thread, merges, and leaves when the run completes (exit 0) or when it is removed (exit 1).
import type { Command } from "commander";
import { cryptoReady } from "../actors/identity/index.js";
import { natsBlobStore } from "../actors/nats/blobs.js";
import { natsDataChannel } from "../actors/nats/data-channel.js";
import { makeNatsEventLog } from "../actors/nats/eventlog.js";
import { listRuns } from "../actors/nats/runs.js";
import { StageKernels } from "../actors/swarm/stage-kernels.js";
import { startRunFeed } from "../actors/swarm/feed.js";
import { startMinerHost } from "../actors/swarm/miner-host.js";
import type { SwarmModel } from "../actors/swarm/model.js";
import { sotuCorpus } from "../kernels/data/corpus.js";
import { KernelPool } from "../kernels/runtime/pool.js";
import { checkRunId, UsageError } from "./run-settings.js";
import { DEFAULT_JOURNAL_DIR, hotkeyFromFlag, JOURNAL_FLAG_HELP, journalFor, membershipFor, SIGNAL_EXIT, swarmAction, withSwarmProcess } from "./swarm-process.js";

type Flags = { nats: string; hotkey: string; run?: string; threads: string; throughput: string; secure?: boolean; journal: string };

const positive = (name: string, v: string, integer: boolean): number => {
  const n = Number(v);
  if (!(n > 0 && Number.isFinite(n)) || (integer && !Number.isInteger(n))) throw new UsageError({ message: `--${name} must be a${integer ? "n integer" : " number"} > 0, got "${v}"` });
  return n;
};

/** The run to join (or validate): --run, else the only run on the server. */
export const pickRun = async (given: string | undefined, runs: () => Promise<string[]>, url: string): Promise<string> => {
  if (given !== undefined) return checkRunId(given);
  const all = await runs();
  if (all.length === 1) return all[0] as string;
  if (all.length === 0) throw new UsageError({ message: `no run on ${url} yet: start one with \`swarmline orchestrate --nats ${url}\`, or pass --run ID` });
  throw new UsageError({ message: `${all.length} runs on ${url} (${all.join(", ")}): pass --run ID` });
};

const mine = async (f: Flags): Promise<number> => {
  const threads = positive("threads", f.threads, true);
  const throughput = positive("throughput", f.throughput, false);
  await cryptoReady();
  const hotkey = hotkeyFromFlag(f.hotkey);
  const short = hotkey.address.slice(0, 8);
  if (f.secure === true && f.run === undefined) throw new UsageError({ message: "--secure needs --run ID: a miner is admitted to one run, and cannot list runs before it is" });
  const member = f.run === undefined ? undefined : await membershipFor(f.secure, f.nats, checkRunId(f.run), hotkey, "miner");
  return withSwarmProcess(f.nats, `swarmline-miner-${hotkey.address.slice(0, 12)}`, async (scope) => {
    const { nc, sig, cleanups } = scope;
    const run = await pickRun(f.run, () => listRuns(nc), f.nats);
    const journal = journalFor(scope, run, hotkey, f.journal, "miner");
    const log = makeNatsEventLog(nc);
    const blobs = await natsBlobStore(nc, run, { writer: hotkey.address });
    const data = await natsDataChannel(nc, run);
    const pool = await KernelPool.create({ workers: 1, threadsPerWorker: threads });
    cleanups.push(() => pool.close());
    let kernels: StageKernels | undefined;
    cleanups.push(async () => kernels?.release());
    // Validators of the run, and how far each has got: its draws and its payouts (one per draw).
    const validators = new Map<string, { drawn: number; paid: number }>();
    const feed = await startRunFeed(nc, run, undefined, ({ fact }) => {
      if (fact.type === "ScoringStarted") validators.set(fact.actor, validators.get(fact.actor) ?? { drawn: 0, paid: 0 });
      const v = validators.get(fact.actor);
      if (v !== undefined && fact.type === "SpotChecksDrawn") v.drawn += 1;
      if (v !== undefined && fact.type === "WeightsProposed") v.paid += 1;
    });
    cleanups.push(() => feed.stop());
    const errors: unknown[] = [];
    let failed: (e: unknown) => void = () => undefined;
    const failure = new Promise<never>((_, reject) => (failed = reject));
    failure.catch(() => undefined);
    const host = await startMinerHost({
      feed, log, data, blobs, corpus: sotuCorpus(), hotkey, throughput, journal, ...(member === undefined ? {} : { sessionSeed: member.sessionSeed }),
      kernels: (m: SwarmModel) => (kernels ??= new StageKernels(pool, m.gpt, run)),
      onError: (e) => {
        errors.push(e);
        failed(e);
      },
    });
    process.stderr.write(`miner ${hotkey.address} joining run ${run}\n`);
    let reported: number | null = null;
    const completed = new Promise<void>((resolve) => {
      const check = (): void => {
        const st = host.stage();
        if (st !== null && st !== reported) {
          reported = st;
          process.stderr.write(`miner ${short}: training stage ${st}\n`);
        }
        if (feed.view().done) resolve();
      };
      feed.listen(check);
      check();
    });
    const outcome = await Promise.race([
      completed.then(async () => {
        // Stay while validators judge the last window: their checks may name weights only this miner can open.
        if (validators.size > 0) {
          process.stderr.write(`miner ${short}: run completed; staying until the validators have scored it (at most ${VALIDATOR_GRACE_S} s)\n`);
          await validatorsDone(validators, VALIDATOR_GRACE_S * 1000);
        }
        return "completed" as const;
      }),
      host.done.then(() => "removed" as const),
      feed.done.then(() => { throw new Error("the run feed stopped (NATS connection closed?)"); }),
      failure,
      sig.signal.then(() => "signal" as const),
    ]);
    if (outcome === "removed") {
      process.stderr.write(`miner ${short}: removed from run ${run} (timed out or kicked); start it again to rejoin\n`);
      return 1;
    }
    await host.leave(outcome === "completed" ? "run completed" : "interrupted");
    // A failure while leaving (its MinerLeft not stored, say) is the exit's: the log would not say it left.
    if (errors.length > 0) throw errors[0];
    process.stderr.write(`miner ${short}: left run ${run} (${outcome})\n`);
    return outcome === "completed" ? 0 : SIGNAL_EXIT;
  }, member);
};

/** Seconds a miner stays after its run completed, answering the validators' last spot checks. */
const VALIDATOR_GRACE_S = 120;

/**
 * Resolves once every validator has paid out every window it drew (after a short quiet period, so a
 * window the run's completion closed has been drawn), or after `timeoutMs`.
 */
const validatorsDone = async (validators: ReadonlyMap<string, { drawn: number; paid: number }>, timeoutMs: number): Promise<void> => {
  const start = performance.now();
  let quietSince = performance.now();
  let last = "";
  for (;;) {
    const now = [...validators.values()].map((v) => `${v.drawn}/${v.paid}`).join(",");
    if (now !== last) [last, quietSince] = [now, performance.now()];
    const settled = [...validators.values()].every((v) => v.paid >= v.drawn);
    if ((settled && performance.now() - quietSince >= 3000) || performance.now() - start >= timeoutMs) return;
    await new Promise((r) => setTimeout(r, 250));
  }
};

export const registerMiner = (program: Command): void => {
  program
    .command("miner")
    .description("Run one miner over NATS: join a run, train the stage the orchestrator assigns, merge, and leave when the run completes")
    .requiredOption("--nats <url>", "NATS server URL (comma-separated for a cluster)")
    .requiredOption("--hotkey <uri>", "the miner's hotkey (key URI such as //Miner1, or a mnemonic); it certifies a fresh session key")
    .option("--run <id>", "the run to join (default: the only run on the server)")
    .option("--threads <n>", "ORT intra-op threads of the kernel worker", "1")
    .option("--throughput <x>", "self-reported throughput (routing weight)", "1")
    .option("--journal <dir>", JOURNAL_FLAG_HELP, DEFAULT_JOURNAL_DIR)
    .option("--secure", "the server is secured (`swarmline nats --secure`): join through its gatekeeper (needs --run; the hotkey must be registered on its subnet, or on its allow-list)")
    .action(swarmAction("miner", mine));
};

// `swarmline validate`: a validator as its own OS process over a NATS URL. It folds the run's log,
// draws and re-executes spot checks with ORT kernels, scores every window with CLASP, and records
// its payouts (WeightsProposed) on its own signed chain; it exits once the run completed and every
// window is scored (0), or on a signal.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { Neuron } from "../events/swarm/index.js";
import { cryptoReady, loadHotkey } from "../actors/identity/index.js";
import { natsBlobStore } from "../actors/nats/blobs.js";
import { natsDataChannel } from "../actors/nats/data-channel.js";
import { makeNatsEventLog } from "../actors/nats/eventlog.js";
import { listRuns } from "../actors/nats/runs.js";
import { StageKernels } from "../actors/swarm/stage-kernels.js";
import type { SwarmModel } from "../actors/swarm/model.js";
import { defaultScoring } from "../actors/swarm/sim-scoring.js";
import { startValidatorHost } from "../actors/validator/host.js";
import { sotuCorpus } from "../kernels/data/corpus.js";
import { KernelPool } from "../kernels/runtime/pool.js";
import { pickRun } from "./miner.js";
import { checkRunId, UsageError } from "./run-settings.js";
import { DEFAULT_JOURNAL_DIR, hotkeyFromFlag, JOURNAL_FLAG_HELP, journalFor, membershipFor, SIGNAL_EXIT, swarmAction, withSwarmProcess } from "./swarm-process.js";

type Flags = {
  nats: string; hotkey: string; run?: string; metagraph?: string; hotkeys?: string; owner?: string; burn: string;
  window: string; spotChecks: string; reduceRate: string; delta: string; threads: string; secure?: boolean; journal: string;
};

const num = (name: string, v: string, ok: (n: number) => boolean, want: string): number => {
  const n = Number(v);
  if (!ok(n)) throw new UsageError({ message: `--${name} must be ${want}, got "${v}"` });
  return n;
};

/**
 * Who can be paid: `--metagraph FILE` (JSON: [{"hotkey": ss58, "uid": n}, ...], or what
 * `swarmline metagraph --json` prints: an object whose `neurons` is such an array) or `--hotkeys`
 * (key URIs or addresses, uids 1.. in order; the owner, if any, uid 0).
 */
export const metagraphFromFlags = (f: Pick<Flags, "metagraph" | "hotkeys" | "owner">): Neuron[] => {
  const address = (k: string): string => (k.startsWith("5") && k.length >= 46 ? k : loadHotkey(k).address);
  if (f.metagraph !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(f.metagraph, "utf8"));
    } catch (e) {
      throw new UsageError({ message: `--metagraph ${f.metagraph}: ${e instanceof Error ? e.message : String(e)}` });
    }
    // `swarmline metagraph --json` wraps the rows with the block and hyperparameters they were read with.
    if (typeof raw === "object" && raw !== null && !Array.isArray(raw) && Array.isArray((raw as { neurons?: unknown }).neurons)) raw = (raw as { neurons: unknown }).neurons;
    const ok = Array.isArray(raw) && raw.every((n) => typeof n === "object" && n !== null && typeof (n as Neuron).hotkey === "string" && Number.isInteger((n as Neuron).uid) && (n as Neuron).uid >= 0);
    if (!ok) throw new UsageError({ message: `--metagraph ${f.metagraph} must be a JSON array of {"hotkey": "<ss58>", "uid": <integer >= 0>}` });
    return (raw as Neuron[]).map((n) => ({ hotkey: n.hotkey, uid: n.uid }));
  }
  if (f.hotkeys === undefined) throw new UsageError({ message: "name who can be paid: --metagraph FILE (JSON [{hotkey, uid}]) or --hotkeys //Miner1,//Miner2,..." });
  const miners = f.hotkeys.split(",").map((k) => k.trim()).filter((k) => k !== "");
  try {
    return [...(f.owner === undefined ? [] : [{ hotkey: address(f.owner), uid: 0 }]), ...miners.map((k, i) => ({ hotkey: address(k), uid: i + 1 }))];
  } catch (e) {
    throw new UsageError({ message: `--hotkeys: ${e instanceof Error ? e.message : String(e)}` });
  }
};

const validate = async (f: Flags): Promise<number> => {
  const metagraph = metagraphFromFlags(f);
  const burn = num("burn", f.burn, (n) => n >= 0 && n <= 1, "in [0, 1]");
  const spotPerMiner = num("spot-checks", f.spotChecks, (n) => Number.isInteger(n) && n >= 0, "an integer >= 0");
  const reduceRate = num("reduce-rate", f.reduceRate, (n) => n >= 0 && n <= 1, "in [0, 1]");
  const delta = num("delta", f.delta, (n) => n >= 0 && Number.isFinite(n), "a number >= 0");
  const window = num("window", f.window, (n) => Number.isInteger(n) && n >= 1, "an integer >= 1");
  const threads = num("threads", f.threads, (n) => Number.isInteger(n) && n >= 1, "an integer >= 1");
  await cryptoReady();
  const hotkey = hotkeyFromFlag(f.hotkey);
  const owner = f.owner === undefined ? null : metagraph.find((n) => n.uid === 0)?.hotkey ?? null;
  if (f.secure === true && f.run === undefined) throw new UsageError({ message: "--secure needs --run ID: a validator is admitted to one run, and cannot list runs before it is" });
  const member = f.run === undefined ? undefined : await membershipFor(f.secure, f.nats, checkRunId(f.run), hotkey, "validator");
  return withSwarmProcess(f.nats, `swarmline-validator-${hotkey.address.slice(0, 12)}`, async (scope) => {
    const { nc, sig, cleanups } = scope;
    const run = await pickRun(f.run, () => listRuns(nc), f.nats);
    const journal = journalFor(scope, run, hotkey, f.journal, "validator");
    const pool = await KernelPool.create({ workers: 1, threadsPerWorker: threads });
    cleanups.push(() => pool.close());
    let kernels: StageKernels | undefined;
    cleanups.push(async () => kernels?.release());
    const errors: unknown[] = [];
    const host = await startValidatorHost({
      nc, run, log: makeNatsEventLog(nc), hotkey, blobs: await natsBlobStore(nc, run, { writer: hotkey.address }), data: await natsDataChannel(nc, run), corpus: sotuCorpus(),
      kernels: (m: SwarmModel) => (kernels ??= new StageKernels(pool, m.gpt, `${run}:val`)),
      ...(member === undefined ? {} : { sessionSeed: member.sessionSeed }), journal,
      settings: { ...defaultScoring(window, [], owner ?? ""), window, metagraph, owner, burn, spotPerMiner, reduceRate, delta },
      onError: (e) => {
        errors.push(e);
        process.stderr.write(`validator: ${e instanceof Error ? e.message : String(e)}\n`);
      },
    });
    cleanups.push(() => host.stop());
    process.stderr.write(`validator ${hotkey.address} scoring run ${run} (windows of ${window} microbatches, ${metagraph.length} registered hotkeys)\n`);
    const outcome = await Promise.race([host.done.then(() => "scored" as const), sig.signal.then(() => "signal" as const)]);
    const s = host.state();
    const scored = s.windows.filter((w) => w.scored).length;
    process.stderr.write(`validator: ${outcome === "scored" ? "run completed" : "interrupted"}; ${scored} window(s) scored\n`);
    return outcome === "signal" ? SIGNAL_EXIT : errors.length > 0 ? 1 : 0;
  }, member);
};

export const registerValidate = (program: Command): void => {
  program
    .command("validate")
    .description("Run a validator over NATS: spot-check every miner's work by re-executing it, score contributions with CLASP, and record each window's payout")
    .requiredOption("--nats <url>", "NATS server URL")
    .requiredOption("--hotkey <uri>", "the validator's hotkey (key URI such as //Validator, or a mnemonic)")
    .option("--run <id>", "the run to validate (default: the only run on the server)")
    .option("--metagraph <file>", "who can be paid: JSON [{\"hotkey\": ss58, \"uid\": n}, ...]")
    .option("--hotkeys <list>", "who can be paid, without a metagraph file: comma-separated key URIs or addresses (uids 1.. in order)")
    .option("--owner <hotkey>", "the subnet owner's hotkey (uid 0 with --hotkeys), which receives --burn")
    .option("--burn <x>", "share of every window's payout burnt to the owner", "0")
    .option("--window <n>", "a scoring window closes every N completed microbatches (miners keep the weights of their last 96 steps: a longer window can fail honest miners' checks)", "50")
    .option("--spot-checks <n>", "pipeline spot checks per miner per window", "2")
    .option("--reduce-rate <x>", "share of accepted merge partitions recomputed (at least one per reducer)", "1")
    .option("--delta <x>", "harm margin in loss units: flag a miner whose contribution's upper bound is below -delta", "0.05")
    .option("--threads <n>", "ORT intra-op threads for re-execution", "1")
    .option("--journal <dir>", JOURNAL_FLAG_HELP, DEFAULT_JOURNAL_DIR)
    .option("--secure", "the server is secured (`swarmline nats --secure`): join through its gatekeeper (needs --run; the hotkey must hold a validator permit on its subnet, or be on its allow-list as validator)")
    .action(swarmAction("validate", validate));
};

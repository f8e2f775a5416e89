// `swarmline metagraph --chain URL --netuid N [--json]`: a subnet as the chain holds it (uid,
// hotkey, stake, validator permit, last weights) and the hyperparameters weights must respect.
// `--json` prints what `validate --metagraph FILE` reads (with more fields). Exit 1 when the chain
// cannot be read or has no such subnet, 2 on bad usage.
import type { Command } from "commander";
import { type ChainEndpoint, connectChain, isChainError, type Metagraph, metagraphJson, readMetagraph } from "../actors/chain/index.js";
import { setExit } from "./exit.js";
import { UsageError } from "./run-settings.js";

type Flags = { chain: string; netuid: string; json?: boolean };

/** A netuid flag: an integer in 0..65535, else a usage error. */
export const parseNetuid = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n > 65535) throw new UsageError({ message: `--netuid must be an integer in 0..65535, got "${v}"` });
  return n;
};

const tao = (rao: bigint): string => `${rao / 1_000_000_000n}.${(rao % 1_000_000_000n).toString().padStart(9, "0")}`;

/** The metagraph as text: hyperparameters, then one row per uid. */
export const metagraphText = (m: Metagraph): string => {
  const h = m.hyperparameters;
  const rows = m.neurons.map((x) => `  ${String(x.uid).padStart(5)}  ${x.hotkey}  ${tao(x.stake).padStart(20)}  ${x.validatorPermit ? "yes   " : "no    "}  ${x.lastUpdate}`);
  return [
    `subnet ${m.netuid} at block ${m.block}: ${m.neurons.length} neurons`,
    `  min_allowed_weights ${h.minAllowedWeights}, max_weight_limit ${h.maxWeightsLimit}, weights_rate_limit ${h.weightsSetRateLimit}, weights_version_key ${h.weightsVersionKey}, commit_reveal ${h.commitRevealEnabled ? "on" : "off"}, tempo ${h.tempo}`,
    `    uid  hotkey${" ".repeat(43)}  ${"stake (TAO)".padStart(20)}  permit  last_update`,
    ...rows,
  ].join("\n");
};

/** The command's body with the chain given as a URL or a provider (tests pass an in-process node). Returns the exit code. */
export const runMetagraph = async (chain: ChainEndpoint, netuid: number, json: boolean, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> => {
  try {
    const api = await connectChain(chain);
    try {
      const m = await readMetagraph(api, netuid);
      out(json ? `${JSON.stringify(metagraphJson(m))}\n` : `${metagraphText(m)}\n`);
      return 0;
    } finally {
      await api.disconnect();
    }
  } catch (e) {
    if (!isChainError(e)) throw e;
    process.stderr.write(`swarmline metagraph: ${e._tag}: ${e.message}\n`);
    return 1;
  }
};

export const registerMetagraph = (program: Command): void => {
  program
    .command("metagraph")
    .description("Read a subnet's metagraph from a subtensor node: uids, hotkeys, stake, validator permits, and the weight hyperparameters")
    .requiredOption("--chain <url>", "a subtensor node's websocket endpoint, ws:// or wss://")
    .requiredOption("--netuid <n>", "the subnet")
    .option("--json", "print one JSON object {netuid, block, hyperparameters, neurons: [{uid, hotkey, stake (rao), validatorPermit, lastUpdate}]}")
    .action(async (f: Flags) => {
      const netuid = parseNetuid(f.netuid);
      if (!/^wss?:\/\//.test(f.chain)) throw new UsageError({ message: `--chain must be a ws:// or wss:// URL of a subtensor node, got "${f.chain}"` });
      setExit(await runMetagraph(f.chain, netuid, f.json === true));
    });
};

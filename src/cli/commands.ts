// The list of subcommands. Each file under src/cli registers one command on the program.
import type { Command } from "commander";
import { registerLog } from "./log.js";
import { registerMiner } from "./miner.js";
import { registerNats } from "./nats.js";
import { registerOrchestrate } from "./orchestrate.js";
import { registerSim } from "./sim.js";
import { registerTrain } from "./train.js";

export const registerCommands = (program: Command): void => {
  registerNats(program);
  registerLog(program);
  registerTrain(program);
  registerSim(program);
  registerOrchestrate(program);
  registerMiner(program);
  // Subcommands are added here as they land: nats, log, train, sim, orchestrate, miner.
};

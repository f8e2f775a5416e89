// The list of subcommands. Each file under src/cli registers one command on the program.
import type { Command } from "commander";
import { registerAudit } from "./audit.js";
import { registerDashboard } from "./dashboard.js";
import { registerLog } from "./log.js";
import { registerMetagraph } from "./metagraph.js";
import { registerMiner } from "./miner.js";
import { registerNats } from "./nats.js";
import { registerOrchestrate } from "./orchestrate.js";
import { registerPayout } from "./payout.js";
import { registerReplay } from "./replay.js";
import { registerScore } from "./score.js";
import { registerSim } from "./sim.js";
import { registerTrain } from "./train.js";
import { registerValidate } from "./validate.js";

export const registerCommands = (program: Command): void => {
  registerNats(program);
  registerLog(program);
  registerTrain(program);
  registerSim(program);
  registerOrchestrate(program);
  registerMiner(program);
  registerScore(program);
  registerAudit(program);
  registerReplay(program);
  registerValidate(program);
  registerMetagraph(program);
  registerPayout(program);
  registerDashboard(program);
  // Subcommands are added here as they land: nats, log, train, sim, orchestrate, miner.
};

// The list of subcommands. Each file under src/cli registers one command on the program.
import type { Command } from "commander";

export const registerCommands = (_program: Command): void => {
  // Subcommands are added here as they land: nats, log, train, sim, orchestrate, miner.
};

// The `swarmline` command: one file per subcommand, each registering itself on the program.
import { Command, CommanderError } from "commander";
import { registerCommands } from "./commands.js";
import { currentExit, resetExit } from "./exit.js";
import { ConfigError, UsageError } from "./run-settings.js";

export const buildProgram = (): Command => {
  const program = new Command("swarmline")
    .description(
      "Train one neural network across many untrusted machines: an event-sourced actor system on NATS JetStream.",
    )
    .version("0.1.0")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  registerCommands(program);
  for (const sub of program.commands) sub.exitOverride().showHelpAfterError("(add --help for usage)");
  return program;
};

/** Runs the CLI and resolves to the process exit code. */
export const main = async (argv: readonly string[]): Promise<number> => {
  resetExit();
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return currentExit();
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version arrive here with exit code 0; bad flags with 1.
      return err.exitCode === 0 ? 0 : 2;
    }
    const usage = err instanceof UsageError || err instanceof ConfigError;
    process.stderr.write(`swarmline: ${err instanceof Error ? err.message : String(err)}\n`);
    // An error no command typed (a bare "timeout") is a bug to find: where it came from.
    if (!usage && err instanceof Error && err.stack !== undefined && !("_tag" in err))
      process.stderr.write(`${err.stack.split("\n").slice(1, 6).join("\n")}\n`);
    // A bad flag value or config is the caller's to fix, like an unknown flag: same exit code.
    return usage ? 2 : 1;
  }
};

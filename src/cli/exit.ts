// The exit code a subcommand's action reports, read by `main` when the action returns. Its own
// module so that subcommands need not import main.ts (which imports them).

let exitCode = 0;

/** Sets the code the current command exits with; 0 only on success. */
export const setExit = (code: number): void => {
  exitCode = code;
};

/** The code set so far (0 when no action set one). */
export const currentExit = (): number => exitCode;

/** Back to 0 before a command runs. */
export const resetExit = (): void => {
  exitCode = 0;
};

// What running a command produced. Its own module so that the runner (shell.ts) and the formatter for the
// model (exec-output.ts) both depend on it instead of on each other.
import type { SandboxUnavailableError } from "../errors.js";

export type ShellResult = {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in arrival order. */
  aggregatedOutput: string;
  durationMs: number;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the command needed the sandbox and could not get it: it did not run (exit code 126). */
  sandboxError?: SandboxUnavailableError | undefined;
};

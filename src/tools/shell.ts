// The `shell` tool: its arguments, and running an argv as a child process the way Codex does (no extra shell,
// its own process group, a timeout, kill on abort, exit codes by shell convention), confined by the sandbox
// when a policy asks for one (sandbox.ts). The process group is tracked until nothing runs in it (background
// jobs included) and dies with the thread or host that started it.
import { statSync } from "node:fs";
import { constants } from "node:os";
import path from "node:path";
import { arrayOf, boolean, object, optional, shapeError, string } from "../protocol/checks.js";
import { parseToolArguments, withoutNulls, type ToolArgumentError } from "./arguments.js";
import { CappedOutput } from "./output-buffer.js";
import { SandboxUnavailableError } from "../errors.js";
import { monotonicMs } from "../util/clock.js";
import { executableProblem } from "./pdeathsig.js";
import { ProcessGroupTracker, killProcessGroup, type ProcessGroupListener } from "./process-groups.js";
import { needsSandbox, sandboxedArgv, type SandboxOptions } from "./sandbox.js";
import { spawnCommandProcess, type ServiceCommand } from "./spawner/client.js";
import type { ShellResult } from "./shell-result.js";

export type { ShellResult } from "./shell-result.js";

export const DEFAULT_SHELL_TIMEOUT_MS = 10_000;
/** Per stream; the aggregated output keeps twice this. `onOutput` still sees every byte. */
export const MAX_KEPT_OUTPUT_BYTES = 1024 * 1024;
const EXIT_CODE_TIMEOUT = 124;
const EXIT_CODE_SIGNAL_BASE = 128;
const EXIT_CODE_CANNOT_EXECUTE = 126;
const EXIT_CODE_NOT_FOUND = 127;
/** Once the command exits, how long background processes still holding its pipes may keep us waiting. */
const DRAIN_AFTER_EXIT_MS = 2_000;

/** The model's arguments, Codex's `ShellToolCallParams` (snake_case, as on the wire). */
export type ShellParams = {
  command: string[];
  workdir?: string | undefined;
  timeout_ms?: number | undefined;
  with_escalated_permissions?: boolean | undefined;
  justification?: string | undefined;
};
export type ShellArgumentError = ToolArgumentError;

export function parseShellArguments(json: string): ShellParams | ShellArgumentError {
  return parseToolArguments(readShellParams, json);
}

/** Fields other than these are dropped; a null field reads as absent. */
function readShellParams(value: unknown): ShellParams {
  const args = object(withoutNulls(value), "");
  if (!Array.isArray(args.command) || args.command.length === 0) {
    throw shapeError("command", "a non-empty array of strings", args.command);
  }
  const command = arrayOf(args.command, "command", string);
  const params: ShellParams = { command };
  const workdir = optional(args.workdir, "workdir", string);
  if (workdir !== undefined) params.workdir = workdir;
  const timeout = optional(args.timeout_ms, "timeout_ms", nonNegativeInteger);
  if (timeout !== undefined) params.timeout_ms = timeout;
  const escalated = optional(args.with_escalated_permissions, "with_escalated_permissions", boolean);
  if (escalated !== undefined) params.with_escalated_permissions = escalated;
  const justification = optional(args.justification, "justification", string);
  if (justification !== undefined) params.justification = justification;
  return params;
}

function nonNegativeInteger(value: unknown, at: string): number {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  throw shapeError(at, "a non-negative integer", value);
}

export type ShellRunOptions = {
  command: readonly string[];
  cwd: string;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  onOutput?: ((stream: "stdout" | "stderr", chunk: Buffer) => void) | undefined;
  /**
   * The command's process group started (its pid) and ended: lets a supervisor kill what a dead worker left.
   * "Ended" means nothing runs in it any more, which may be well after the command exits when it left
   * background jobs, or when the tracker kills or forgets it.
   */
  onProcessGroup?: ProcessGroupListener | undefined;
  /**
   * Tracks the command's process group for its owner (a session kills what its commands left at shutdown).
   * Without one, a tracker shared by the thread's untracked commands is used.
   */
  processGroups?: ProcessGroupTracker | undefined;
  /**
   * Confines the command (read-only and workspace-write policies run it under bubblewrap); absent, or a
   * danger-full-access policy, runs it as is. When the sandbox is needed and unavailable, nothing runs: the
   * result reports exit code 126 with the SandboxUnavailableError's message and the error itself.
   */
  sandbox?: SandboxOptions | undefined;
};

let threadTracker: ProcessGroupTracker | undefined;

/**
 * Never rejects: a command that cannot start reports 127 (126 when not executable) with the reason in stderr;
 * a timeout reports 124; death by a signal reports 128 + its number. A signal that is already aborted runs
 * nothing and reports -1, as Codex does for commands that never ran.
 */
export function runShellCommand(options: ShellRunOptions): Promise<ShellResult> {
  const { command, cwd, signal, env = process.env } = options;
  const processGroups = options.processGroups ?? (threadTracker ??= new ProcessGroupTracker());
  const startedAt = monotonicMs();
  const program = command[0];
  if (program === undefined) return Promise.resolve(notStarted(EXIT_CODE_NOT_FOUND, "command args are empty", startedAt));
  if (signal?.aborted) return Promise.resolve({ ...notStarted(-1, "", startedAt), aborted: true });
  if (options.sandbox === undefined || !needsSandbox(options.sandbox.policy)) {
    return spawnCommand(command, true, options, processGroups, startedAt);
  }

  // Inside the sandbox bwrap would report these in words, with exit code 1: say them as a spawn would.
  const problem = isDirectory(cwd) ? executableProblem(program, cwd, env) : "no such working directory";
  if (problem !== undefined) {
    const reasons: Record<string, string> = { EACCES: "EACCES: permission denied", ENOENT: "ENOENT: no such file or directory" };
    const reason = reasons[problem] ?? problem;
    const code = problem === "EACCES" ? EXIT_CODE_CANNOT_EXECUTE : EXIT_CODE_NOT_FOUND;
    return Promise.resolve(notStarted(code, `failed to run ${program} in ${cwd}: ${reason}`, startedAt));
  }
  return sandboxedArgv(command, cwd, env, options.sandbox).then(
    (argv) =>
      signal?.aborted
        ? { ...notStarted(-1, "", startedAt), aborted: true }
        : spawnCommand(argv, false, options, processGroups, startedAt),
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      const result = notStarted(EXIT_CODE_CANNOT_EXECUTE, message, startedAt);
      return error instanceof SandboxUnavailableError ? { ...result, sandboxError: error } : result;
    },
  );
}

/**
 * Spawns `argv` (the command, or bwrap running it) in its own process group, tracked by `processGroups`, and
 * collects what the command prints until it ends, times out or is aborted. `dieWithParent` runs it under
 * setpriv's parent-death signal (bwrap has its own, --die-with-parent).
 */
function spawnCommand(
  argv: readonly string[],
  dieWithParent: boolean,
  options: ShellRunOptions,
  processGroups: ProcessGroupTracker,
  startedAt: number,
): Promise<ShellResult> {
  const { command, cwd, timeoutMs = DEFAULT_SHELL_TIMEOUT_MS, signal, env = process.env, onOutput, onProcessGroup } = options;
  const program = command[0] as string;
  return new Promise((resolve) => {
    const stdout = new CappedOutput(MAX_KEPT_OUTPUT_BYTES);
    const stderr = new CappedOutput(MAX_KEPT_OUTPUT_BYTES);
    const aggregated = new CappedOutput(2 * MAX_KEPT_OUTPUT_BYTES);
    let timedOut = false;
    let aborted = false;
    let settled = false;

    let child: ServiceCommand;
    try {
      // Its own session and process group, so one signal reaches everything the command starts; forked by the
      // host's spawn service (spawner/), not by this large process.
      const [file = program, ...args] = argv;
      child = spawnCommandProcess(file, args, { cwd: path.resolve(cwd), env, dieWithParent });
    } catch (error) {
      // Arguments no process can receive (a NUL byte, say) never reach the OS.
      resolve(notStarted(EXIT_CODE_NOT_FOUND, `failed to run ${program}: ${(error as Error).message}`, startedAt));
      return;
    }
    // The whole process group, so grandchildren die with the command.
    const killGroup = () => {
      if (child.pid !== undefined) killProcessGroup(child.pid);
    };
    child.once("spawn", () => {
      if (child.pid !== undefined) processGroups.track(child.pid, onProcessGroup, !child.viaService);
      // Aborted or timed out while the spawn was on its way.
      if (aborted || timedOut) killGroup();
    });
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    const timeout = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    let drain: NodeJS.Timeout | undefined;
    signal?.addEventListener("abort", onAbort, { once: true });

    const settle = (result: ShellResult) => {
      if (settled) return;
      settled = true;
      // Background jobs may still run in the group: it stays tracked until they end or are killed.
      if (child.pid !== undefined) processGroups.commandExited(child.pid);
      clearTimeout(timeout);
      clearTimeout(drain);
      signal?.removeEventListener("abort", onAbort);
      resolve(result);
    };

    for (const [name, stream, kept] of [["stdout", child.stdout, stdout], ["stderr", child.stderr, stderr]] as const) {
      stream.on("data", (chunk: Buffer) => {
        kept.push(chunk);
        aggregated.push(chunk);
        onOutput?.(name, chunk);
      });
    }

    child.once("error", (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return;
      const code = error.code === "EACCES" ? EXIT_CODE_CANNOT_EXECUTE : EXIT_CODE_NOT_FOUND;
      settle(notStarted(code, `failed to run ${program} in ${cwd}: ${error.message}`, startedAt));
    });
    child.once("exit", () => {
      if (settled) return;
      clearTimeout(timeout);
      drain = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, DRAIN_AFTER_EXIT_MS);
    });
    child.once("close", (code: number | null, signalName: NodeJS.Signals | null) => {
      settle({
        exitCode: exitCodeOf(code, signalName, timedOut),
        stdout: stdout.text(),
        stderr: stderr.text(),
        aggregatedOutput: aggregated.text(),
        durationMs: monotonicMs() - startedAt,
        timedOut,
        aborted,
      });
    });
  });
}

function isDirectory(target: string): boolean {
  try {
    return statSync(target).isDirectory();
  } catch {
    return false;
  }
}

function exitCodeOf(code: number | null, signalName: NodeJS.Signals | null, timedOut: boolean): number {
  if (timedOut) return EXIT_CODE_TIMEOUT;
  if (signalName !== null) return EXIT_CODE_SIGNAL_BASE + (constants.signals[signalName] ?? 0);
  return code ?? -1;
}

function notStarted(exitCode: number, message: string, startedAt: number): ShellResult {
  return {
    exitCode,
    stdout: "",
    stderr: message,
    aggregatedOutput: message,
    durationMs: monotonicMs() - startedAt,
    timedOut: false,
    aborted: false,
  };
}

// Makes a command receive SIGKILL the moment the thread that spawned it dies (PR_SET_PDEATHSIG), by starting it
// through util-linux `setpriv --pdeathsig KILL`, which sets the flag and then execs the command in place (same
// pid, same exit status). Linux only, and only where setpriv has the option; elsewhere commands start as
// before. The spawn service applies it to the commands it forks (so they die with the service); a direct spawn
// applies it in the thread. The flag is not inherited by the command's own children: the service, or the reaper
// (process-groups.ts), covers those.
import type * as ChildProcesses from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import path from "node:path";
import { requireBuiltin } from "../util/builtin.js";

const SETPRIV_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

let setpriv: string | null | undefined;


/**
 * setpriv's path when it runs here and knows `--pdeathsig`; looked up once per thread, on the first command that
 * needs it: in the spawn service (which forks every command), or in a worker only when it spawns directly (the
 * fallback when the service cannot start).
 */
export function pdeathsigHelper(): string | undefined {
  if (setpriv === undefined) setpriv = findSetpriv();
  return setpriv ?? undefined;
}

function findSetpriv(): string | null {
  if (process.platform !== "linux") return null;
  const pathDirs = (process.env.PATH ?? "").split(path.delimiter).filter((dir) => path.isAbsolute(dir));
  for (const dir of [...SETPRIV_DIRS, ...pathDirs]) {
    const candidate = path.join(dir, "setpriv");
    if (!isExecutableFile(candidate)) continue;
    // Old util-linux (before 2.33) has no --pdeathsig: try it once rather than fail every command.
    const { spawnSync } = requireBuiltin<typeof ChildProcesses>("node:child_process");
    const probe = spawnSync(candidate, ["--pdeathsig", "KILL", "--", "/bin/sh", "-c", ":"], { stdio: "ignore", timeout: 5_000 });
    return probe.status === 0 ? candidate : null;
  }
  return null;
}

/**
 * The argv to spawn so that `command` dies with the spawning thread: `[setpriv, --pdeathsig, KILL, --, ...command]`,
 * or `command` itself when setpriv is unavailable, or when the program cannot be found or run (so that the spawn
 * fails as it would have, with ENOENT or EACCES, instead of setpriv reporting it in words).
 */
export function withParentDeathSignal(command: readonly string[], cwd: string, env: NodeJS.ProcessEnv): readonly string[] {
  const helper = pdeathsigHelper();
  const program = command[0];
  if (helper === undefined || program === undefined || !canExecute(program, cwd, env)) return command;
  return [helper, "--pdeathsig", "KILL", "--", ...command];
}

/** Whether execvp would find `program` as a runnable file, with the PATH of the command's environment. */
export function canExecute(program: string, cwd: string, env: NodeJS.ProcessEnv): boolean {
  return programCandidates(program, cwd, env).some(isExecutableFile);
}

/**
 * Why execvp would fail to run `program` (with the PATH of the command's environment), as the errno code a
 * spawn would report: ENOENT when no such file exists, EACCES when one exists but cannot be run; undefined
 * when it would run.
 */
export function executableProblem(program: string, cwd: string, env: NodeJS.ProcessEnv): "ENOENT" | "EACCES" | undefined {
  const candidates = programCandidates(program, cwd, env);
  if (candidates.some(isExecutableFile)) return undefined;
  return candidates.some(existsAsFile) ? "EACCES" : "ENOENT";
}

function programCandidates(program: string, cwd: string, env: NodeJS.ProcessEnv): string[] {
  if (program.includes("/")) return [path.resolve(cwd, program)];
  const searchPath = env.PATH ?? "/usr/bin:/bin";
  return searchPath.split(path.delimiter).map((dir) => path.resolve(cwd, dir, program));
}

function existsAsFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** A regular file this process may execute. */
export function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

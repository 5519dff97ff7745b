// Confines the commands the model runs, with bubblewrap (`bwrap`), under Codex's sandbox modes:
//
// - read-only: the whole filesystem read-only, a fresh /dev and /proc, no network.
// - workspace-write: the same, except the writable roots: the session's cwd, the policy's `writable_roots`
//   (config.toml's `[sandbox_workspace_write] writable_roots`), any the caller adds, `$TMPDIR` (unless
//   `exclude_tmpdir_env_var`) and `/tmp` (unless `exclude_slash_tmp`). `.git` (with the directory a `.git` file
//   points to), `.llmx` and `.codex` under a writable root stay read-only. No network unless `network_access`.
// - danger-full-access (and external-sandbox, where someone else confines us): no sandbox at all.
//
// Always, when sandboxed: new pid, ipc and uts namespaces, `--die-with-parent`, `--new-session` (no terminal
// to inject input into), no new privileges (bwrap sets PR_SET_NO_NEW_PRIVS), every capability dropped (we may
// run as root), and the llmx home (sessions, config, auth) hidden behind an empty tmpfs unless it is itself a
// writable root.
//
// Process lifetime: bwrap is the command's process group leader on our side. With --unshare-pid the command
// runs under bwrap's own init; when the command exits, that init exits and the kernel kills everything left in
// the namespace (background jobs do not outlive a sandboxed command); when bwrap is killed, --die-with-parent
// kills its init, and with it the namespace. So killing bwrap's group kills the whole tree, and
// --die-with-parent also ties bwrap to the thread that spawned it (as pdeathsig.ts does for unsandboxed ones).
//
// Nothing falls back to running unsandboxed: if bwrap is missing or cannot create its namespaces (probed once
// per thread and bwrap path), a command that needs the sandbox fails with SandboxUnavailableError.
import { lstatSync, readFileSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { SandboxUnavailableError } from "../errors.js";
import type { SandboxPolicy } from "../protocol/index.js";
import { sandboxMode } from "../protocol/plain.js";
import { isExecutableFile } from "./pdeathsig.js";
import { killProcessGroup } from "./process-groups.js";
import { spawnCommandProcess } from "./spawner/client.js";

/** How to confine one command. Plain data. */
export type SandboxOptions = {
  policy: SandboxPolicy;
  /**
   * The workspace: the session's cwd, writable under workspace-write. A command's own working directory (the
   * model's `workdir`) may differ; it does not widen what is writable.
   */
  cwd: string;
  /** The llmx home (the config's `home`: sessions, config.toml, auth): hidden unless it is a writable root. */
  llmxHome?: string | undefined;
  /** Writable roots beyond the policy's own `writable_roots` (workspace-write only), e.g. `--add-dir`. */
  writableRoots?: readonly string[] | undefined;
  /** Overrides the policy's network access (workspace-write's `network_access`; read-only has none). */
  networkAccess?: boolean | undefined;
  /** The bwrap to run; by default the first found in /usr/bin, /bin, /usr/local/bin, then on PATH. */
  bwrapPath?: string | undefined;
};

/** What the sandbox lets a command see and change, resolved against the filesystem (real paths). Plain data. */
export type SandboxLayout = {
  /** Bound writable over the read-only root. */
  writableRoots: readonly string[];
  /** Inside writable roots, bound read-only again: `.git` (and where a `.git` file points), `.llmx`, `.codex`. */
  readOnlyPaths: readonly string[];
  /** Covered by an empty tmpfs: the llmx home. */
  hiddenPaths: readonly string[];
  /** Whether the command shares the host's network (otherwise it gets its own, with only a loopback). */
  network: boolean;
};

/** Names under a writable root that stay read-only. */
export const PROTECTED_NAMES: readonly string[] = [".git", ".llmx", ".codex"];

const BWRAP_DIRS = ["/usr/bin", "/bin", "/usr/local/bin"];
const PROBE_TIMEOUT_MS = 10_000;

/** Whether commands under `policy` run in the sandbox: read-only and workspace-write do. */
export function needsSandbox(policy: SandboxPolicy): boolean {
  const mode = sandboxMode(policy);
  return mode === "read-only" || mode === "workspace-write";
}

type WorkspaceWriteFields = {
  writable_roots?: string[];
  network_access?: boolean;
  exclude_tmpdir_env_var?: boolean;
  exclude_slash_tmp?: boolean;
};

/**
 * Resolves `options` against the filesystem: which roots exist and are writable (by their real paths), which
 * protected paths exist inside them, whether the llmx home is hidden. `env` is the command's environment (its
 * `TMPDIR` is the one made writable). Paths that do not exist are left out: there is nothing to bind.
 */
export function sandboxLayout(options: SandboxOptions, env: NodeJS.ProcessEnv = process.env): SandboxLayout {
  const mode = sandboxMode(options.policy);
  const fields = options.policy as WorkspaceWriteFields;
  const writableRoots: string[] = [];
  if (mode === "workspace-write") {
    const candidates = [
      options.cwd,
      ...(fields.writable_roots ?? []).map((root) => path.resolve(options.cwd, root)),
      ...(options.writableRoots ?? []).map((root) => path.resolve(options.cwd, root)),
    ];
    if (fields.exclude_slash_tmp !== true && isDirectory("/tmp")) candidates.push("/tmp");
    const tmpdir = env.TMPDIR;
    if (fields.exclude_tmpdir_env_var !== true && tmpdir !== undefined && path.isAbsolute(tmpdir)) candidates.push(tmpdir);
    for (const candidate of candidates) {
      const real = realPath(candidate);
      if (real !== undefined && !writableRoots.includes(real)) writableRoots.push(real);
    }
  }

  const hiddenPaths: string[] = [];
  const home = options.llmxHome === undefined ? undefined : realPath(options.llmxHome);
  if (home !== undefined && home !== "/" && !writableRoots.includes(home)) hiddenPaths.push(home);

  const readOnlyPaths: string[] = [];
  const protect = (candidate: string | undefined) => {
    const real = candidate === undefined ? undefined : realPath(candidate);
    if (real === undefined || readOnlyPaths.includes(real) || hiddenPaths.includes(real)) return;
    if (writableRoots.some((root) => isWithin(real, root))) readOnlyPaths.push(real);
  };
  for (const root of writableRoots) {
    for (const name of PROTECTED_NAMES) {
      const protectedPath = path.join(root, name);
      protect(protectedPath);
      if (name === ".git") protect(gitdirOf(protectedPath));
    }
  }

  const network = options.networkAccess ?? fields.network_access === true;
  return { writableRoots, readOnlyPaths, hiddenPaths, network };
}

/**
 * bwrap's arguments (everything after its path) to run `command` in `cwd` confined to `layout`. Pure. The
 * filesystem is built most general first: the read-only root, /dev and /proc, then by depth, so that the most
 * specific path wins (a protected `.git` over its writable root, a writable root inside the hidden llmx home).
 */
export function bwrapArgs(layout: SandboxLayout, command: readonly string[], cwd: string): string[] {
  const args = ["--new-session", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"];
  if (!layout.network) args.push("--unshare-net");
  args.push("--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc");

  type Mount = { path: string; rank: number; args: string[] };
  const mounts: Mount[] = [
    ...layout.writableRoots.map((root) => ({ path: root, rank: 0, args: ["--bind", root, root] })),
    ...layout.readOnlyPaths.map((target) => ({ path: target, rank: 1, args: ["--ro-bind", target, target] })),
    ...layout.hiddenPaths.map((target) => ({ path: target, rank: 2, args: ["--tmpfs", target] })),
  ];
  const depth = (target: string) => target.split("/").filter(Boolean).length;
  mounts.sort((a, b) => depth(a.path) - depth(b.path) || a.rank - b.rank);
  for (const mount of mounts) args.push(...mount.args);
  // The empty directory over a hidden path is read-only too (after the mounts that needed mount points in it).
  for (const target of layout.hiddenPaths) args.push("--remount-ro", target);

  args.push("--chdir", cwd, "--", ...command);
  return args;
}

let foundBwrap: string | null | undefined;

/** The bwrap that runs by default: the first executable one in /usr/bin, /bin, /usr/local/bin, then on PATH. */
export function defaultBwrapPath(): string | undefined {
  if (foundBwrap === undefined) {
    const pathDirs = (process.env.PATH ?? "").split(path.delimiter).filter((dir) => path.isAbsolute(dir));
    foundBwrap = [...BWRAP_DIRS, ...pathDirs].map((dir) => path.join(dir, "bwrap")).find(isExecutableFile) ?? null;
  }
  return foundBwrap ?? undefined;
}

const probes = new Map<string, Promise<SandboxUnavailableError | undefined>>();

/**
 * Whether bwrap at `bwrapPath` can build the sandbox here: it runs `true` under every namespace and flag a
 * command gets. Once per thread and path; the answer (an error naming the cause, or undefined) is cached.
 */
export function probeSandbox(bwrapPath: string | undefined = defaultBwrapPath()): Promise<SandboxUnavailableError | undefined> {
  const key = bwrapPath ?? "";
  let probe = probes.get(key);
  if (probe === undefined) {
    probe = runProbe(bwrapPath);
    probes.set(key, probe);
  }
  return probe;
}

function runProbe(bwrapPath: string | undefined): Promise<SandboxUnavailableError | undefined> {
  if (process.platform !== "linux") {
    const reason = `bubblewrap sandboxes need Linux, not ${process.platform}`;
    return Promise.resolve(new SandboxUnavailableError(reason, bwrapPath ?? "bwrap"));
  }
  if (bwrapPath === undefined) {
    const where = `${BWRAP_DIRS.join(", ")} or on PATH`;
    return Promise.resolve(new SandboxUnavailableError(`bwrap is not installed (not found in ${where})`, "bwrap"));
  }
  const layout: SandboxLayout = { writableRoots: [], readOnlyPaths: [], hiddenPaths: [], network: false };
  const args = bwrapArgs(layout, ["true"], "/");
  return new Promise((resolve) => {
    // Through the spawn service like every command (a fork from this large process would stall its threads).
    const fail = (reason: string, cause: unknown) => {
      clearTimeout(deadline);
      resolve(new SandboxUnavailableError(reason, bwrapPath, { cause }));
    };
    let child: ReturnType<typeof spawnCommandProcess>;
    try {
      child = spawnCommandProcess(bwrapPath, args, { cwd: "/", env: { PATH: "/usr/bin:/bin" } });
    } catch (error) {
      resolve(new SandboxUnavailableError(`${bwrapPath} cannot be run: ${(error as Error).message}`, bwrapPath, { cause: error }));
      return;
    }
    let stderr = "";
    let killed = false;
    const deadline = setTimeout(() => {
      killed = true;
      if (child.pid !== undefined) killProcessGroup(child.pid);
    }, PROBE_TIMEOUT_MS);
    child.stdout.resume();
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    child.once("error", (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return;
      const reason =
        error.code === "ENOENT"
          ? `bwrap is not installed (${bwrapPath} does not exist)`
          : error.code === "EACCES"
            ? `${bwrapPath} cannot be executed`
            : `bwrap cannot be run: ${error.message}`;
      fail(reason, error);
    });
    child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
      if (child.pid === undefined) return;
      if (code === 0 && !killed) {
        clearTimeout(deadline);
        resolve(undefined);
        return;
      }
      const said = stderr.trim().split("\n")[0] ?? "";
      const status = signal === null ? `exit code ${code}` : `signal ${signal}`;
      const reason = killed
        ? `bwrap did not finish a trial run within ${PROBE_TIMEOUT_MS / 1000} s`
        : `bwrap cannot create the sandbox's namespaces here: ${said === "" ? `it failed with ${status}` : said}`;
      fail(reason, new Error(`${bwrapPath} ${status}`));
    });
  });
}

/**
 * The argv to spawn for `command` (run in `cwd` with environment `env`) confined by `sandbox`: bwrap's path
 * and arguments, or `command` itself when the policy needs no sandbox. Rejects with SandboxUnavailableError
 * when it needs one and bwrap cannot provide it; never returns an unconfined argv for a confining policy.
 */
export async function sandboxedArgv(
  command: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  sandbox: SandboxOptions,
): Promise<readonly string[]> {
  if (!needsSandbox(sandbox.policy)) return command;
  const bwrapPath = sandbox.bwrapPath ?? defaultBwrapPath();
  const unavailable = await probeSandbox(bwrapPath);
  if (unavailable !== undefined) throw unavailable;
  return [bwrapPath as string, ...bwrapArgs(sandboxLayout(sandbox, env), command, cwd)];
}

/** Where a `.git` file (a worktree's or a submodule's) says the repository is; undefined for a directory. */
function gitdirOf(dotGit: string): string | undefined {
  try {
    if (!lstatSync(dotGit).isFile()) return undefined;
    const match = /^gitdir:\s*(.+?)\s*$/m.exec(readFileSync(dotGit, "utf8"));
    return match?.[1] === undefined ? undefined : path.resolve(path.dirname(dotGit), match[1]);
  } catch {
    return undefined;
  }
}

function realPath(target: string): string | undefined {
  try {
    return realpathSync(target);
  } catch {
    return undefined;
  }
}

function isWithin(target: string, root: string): boolean {
  const relative = path.relative(root, target);
  return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

function isDirectory(target: string): boolean {
  try {
    return statSync(target).isDirectory();
  } catch {
    return false;
  }
}


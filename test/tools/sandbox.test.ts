// The sandbox with real commands under bubblewrap (which must be installed: `.ci/run` installs it), the pure
// argument builder, and the environment policy. Writes are checked by whether the file exists afterwards.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SandboxUnavailableError } from "../../src/errors.js";
import type { SandboxPolicy } from "../../src/protocol/index.js";
import {
  ProcessGroupTracker,
  bwrapArgs,
  commandEnvironment,
  probeSandbox,
  runShellCommand,
  sandboxLayout,
  sandboxedArgv,
  type SandboxLayout,
  type SandboxOptions,
  type ShellRunOptions,
} from "../../src/tools/index.js";
import { eventually, isGone } from "./processes.js";

// Under /tmp itself (not $TMPDIR): the tests count on /tmp being writable exactly when the policy says so.
const scratch = mkdtempSync("/tmp/llmx-sandbox-test-");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory under the scratch directory. */
function freshDir(name: string): string {
  const dir = path.join(scratch, `${name}-${++counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A workspace with a `.git` directory, an llmx home holding a file, and a directory outside both. */
function fixture() {
  const workspace = freshDir("ws");
  mkdirSync(path.join(workspace, ".git"));
  writeFileSync(path.join(workspace, ".git", "HEAD"), "ref: refs/heads/main\n");
  const home = freshDir("llmx-home");
  writeFileSync(path.join(home, "auth.json"), '{"OPENAI_API_KEY":"sk-test"}');
  const outside = freshDir("outside");
  return { workspace, home, outside };
}

const BASE_ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/" };
/** Policies that keep /tmp out of the writable roots, so a scratch directory under /tmp counts as "outside". */
const WORKSPACE_WRITE: SandboxPolicy = { mode: "workspace-write", exclude_slash_tmp: true, exclude_tmpdir_env_var: true };
const READ_ONLY: SandboxPolicy = { mode: "read-only" };

function sh(script: string, sandbox: SandboxOptions, options: Partial<ShellRunOptions> = {}) {
  return runShellCommand({ command: ["bash", "-c", script], cwd: sandbox.cwd, env: BASE_ENV, sandbox, ...options });
}

/** Tries to create `file` in the sandbox; whether it exists afterwards on the host. */
async function canCreate(file: string, sandbox: SandboxOptions, env: NodeJS.ProcessEnv = BASE_ENV): Promise<boolean> {
  const result = await runShellCommand({ command: ["touch", file], cwd: sandbox.cwd, env, sandbox });
  const created = existsSync(file);
  expect(result.exitCode === 0).toBe(created);
  return created;
}

beforeAll(async () => {
  // Every test below needs a working bwrap: say so once, plainly, rather than fail each one obscurely.
  const unavailable = await probeSandbox();
  if (unavailable !== undefined) throw unavailable;
});

describe("read-only", () => {
  test("nothing is writable, the workspace and /tmp included, and everything stays readable", async () => {
    const { workspace, home } = fixture();
    const sandbox = { policy: READ_ONLY, cwd: workspace, llmxHome: home };
    writeFileSync(path.join(workspace, "readme.txt"), "hello");

    expect(await canCreate(path.join(workspace, "new.txt"), sandbox)).toBe(false);
    expect(await canCreate(path.join(freshDir("tmp"), "new.txt"), sandbox)).toBe(false);
    const result = await sh("cat readme.txt; touch /etc/llmx-sandbox-probe 2>&1", sandbox);
    expect(result.stdout).toContain("hello");
    expect(result.stdout).toContain("Read-only file system");
    expect(existsSync("/etc/llmx-sandbox-probe")).toBe(false);
  });

  test("has no network", async () => {
    const { workspace } = fixture();
    await withServer(async (port, connections) => {
      const result = await sh(connectScript(port), { policy: READ_ONLY, cwd: workspace });
      expect(result.exitCode).not.toBe(0);
      expect(connections()).toBe(0);
    });
  });
});

describe("workspace-write", () => {
  test("the workspace is writable, the rest of the filesystem is not", async () => {
    const { workspace, outside } = fixture();
    const sandbox = { policy: WORKSPACE_WRITE, cwd: workspace };
    mkdirSync(path.join(workspace, "src"));

    expect(await canCreate(path.join(workspace, "new.txt"), sandbox)).toBe(true);
    expect(await canCreate(path.join(workspace, "src", "deep.txt"), sandbox)).toBe(true);
    expect(await canCreate(path.join(outside, "new.txt"), sandbox)).toBe(false);
    expect(await canCreate("/etc/llmx-sandbox-probe", sandbox)).toBe(false);
  });

  test("a command in a subdirectory (the model's workdir) still writes the whole workspace, and only it", async () => {
    const { workspace, outside } = fixture();
    const sub = path.join(workspace, "sub");
    mkdirSync(sub);
    const sandbox = { policy: WORKSPACE_WRITE, cwd: workspace };
    const result = await runShellCommand({
      command: ["bash", "-c", `pwd; touch ../top.txt; touch ${outside}/out.txt`],
      cwd: sub,
      env: BASE_ENV,
      sandbox,
    });
    expect(result.stdout).toBe(`${sub}\n`);
    expect(existsSync(path.join(workspace, "top.txt"))).toBe(true);
    expect(existsSync(path.join(outside, "out.txt"))).toBe(false);
  });

  test(".git, .llmx and .codex under the workspace stay read-only and cannot be removed or renamed", async () => {
    const { workspace } = fixture();
    for (const name of [".llmx", ".codex"]) mkdirSync(path.join(workspace, name));
    const sandbox = { policy: WORKSPACE_WRITE, cwd: workspace };

    for (const name of [".git", ".llmx", ".codex"]) {
      expect(await canCreate(path.join(workspace, name, "x"), sandbox), name).toBe(false);
    }
    const result = await sh("echo nope > .git/HEAD; rm -rf .git; mv .git moved; echo done", sandbox);
    expect(result.stdout).toBe("done\n");
    expect(readFileSync(path.join(workspace, ".git", "HEAD"), "utf8")).toBe("ref: refs/heads/main\n");
    expect(existsSync(path.join(workspace, "moved"))).toBe(false);
  });

  test("a .git file (a worktree) stays read-only, and so does the directory it points to inside a writable root", async () => {
    const workspace = freshDir("worktree");
    const gitdir = path.join(workspace, "gitdir");
    mkdirSync(gitdir);
    writeFileSync(path.join(workspace, ".git"), "gitdir: gitdir\n");
    const sandbox = { policy: WORKSPACE_WRITE, cwd: workspace };

    expect(await canCreate(path.join(gitdir, "index.lock"), sandbox)).toBe(false);
    await sh("echo 'gitdir: /elsewhere' > .git", sandbox);
    expect(readFileSync(path.join(workspace, ".git"), "utf8")).toBe("gitdir: gitdir\n");
    expect(await canCreate(path.join(workspace, "file.txt"), sandbox)).toBe(true);
  });

  test("extra writable roots, from the policy and from the caller, are writable", async () => {
    const { workspace } = fixture();
    const fromPolicy = freshDir("policy-root");
    const fromCaller = freshDir("caller-root");
    const sandbox: SandboxOptions = {
      policy: { ...WORKSPACE_WRITE, writable_roots: [fromPolicy] },
      cwd: workspace,
      writableRoots: [fromCaller],
    };
    expect(await canCreate(path.join(fromPolicy, "a"), sandbox)).toBe(true);
    expect(await canCreate(path.join(fromCaller, "b"), sandbox)).toBe(true);
  });

  test("/tmp is writable unless exclude_slash_tmp, $TMPDIR unless exclude_tmpdir_env_var", async () => {
    const { workspace } = fixture();
    const tmpdirEnv = freshDir("tmpdir-env");
    const env = { ...BASE_ENV, TMPDIR: tmpdirEnv };
    const inTmp = () => path.join(freshDir("slash-tmp"), "file");
    const inTmpdir = () => path.join(tmpdirEnv, `file-${++counter}`);
    const policy = (excludeSlashTmp: boolean, excludeTmpdir: boolean): SandboxOptions => ({
      policy: { mode: "workspace-write", exclude_slash_tmp: excludeSlashTmp, exclude_tmpdir_env_var: excludeTmpdir },
      cwd: workspace,
    });

    // Our scratch directories are under /tmp: with /tmp writable, so is $TMPDIR whatever its flag.
    expect(await canCreate(inTmp(), policy(false, false), env)).toBe(true);
    expect(await canCreate(inTmp(), policy(false, true), env)).toBe(true);
    expect(await canCreate(inTmp(), policy(true, false), env)).toBe(false);
    expect(await canCreate(inTmpdir(), policy(true, false), env)).toBe(true);
    expect(await canCreate(inTmpdir(), policy(true, true), env)).toBe(false);
    // $TMPDIR is the command's: without one in its environment there is none to make writable.
    expect(await canCreate(inTmpdir(), policy(true, false), BASE_ENV)).toBe(false);
  });

  test("no network unless network_access", async () => {
    const { workspace } = fixture();
    await withServer(async (port, connections) => {
      const closed = await sh(connectScript(port), { policy: WORKSPACE_WRITE, cwd: workspace });
      expect(closed.exitCode).not.toBe(0);
      expect(connections()).toBe(0);

      const open = await sh(connectScript(port), { policy: { ...WORKSPACE_WRITE, network_access: true }, cwd: workspace });
      expect(open.stderr).toBe("");
      expect(open.exitCode).toBe(0);
      expect(await eventually(() => connections() === 1)).toBe(true);

      const overridden = await sh(connectScript(port), { policy: WORKSPACE_WRITE, cwd: workspace, networkAccess: true });
      expect(overridden.exitCode).toBe(0);
      expect(await eventually(() => connections() === 2)).toBe(true);
    });
  });
});

describe("danger-full-access", () => {
  test("runs the command as it is: writes anywhere, network", async () => {
    const { workspace, outside, home } = fixture();
    const sandbox = { policy: { mode: "danger-full-access" } as const, cwd: workspace, llmxHome: home };
    expect(await sandboxedArgv(["true"], workspace, BASE_ENV, sandbox)).toEqual(["true"]);
    expect(await canCreate(path.join(outside, "x"), sandbox)).toBe(true);
    expect((await sh(`ls ${home}`, sandbox)).stdout).toBe("auth.json\n");
    await withServer(async (port, connections) => {
      expect((await sh(connectScript(port), sandbox)).exitCode).toBe(0);
      expect(await eventually(() => connections() === 1)).toBe(true);
    });
  });

  test("needs no bwrap", async () => {
    const { workspace } = fixture();
    const result = await sh("echo ran", { policy: { mode: "danger-full-access" }, cwd: workspace, bwrapPath: "/nonexistent/bwrap" });
    expect(result).toMatchObject({ exitCode: 0, stdout: "ran\n" });
  });
});

describe("under every confining mode", () => {
  const modes: [string, SandboxPolicy][] = [
    ["read-only", READ_ONLY],
    ["workspace-write", WORKSPACE_WRITE],
  ];

  test.each(modes)("%s: no new privileges and no capabilities", async (_mode, policy) => {
    const { workspace } = fixture();
    const result = await sh("grep -E '^(NoNewPrivs|CapEff|CapPrm):' /proc/self/status", { policy, cwd: workspace });
    expect(result.stdout).toContain("NoNewPrivs:\t1");
    expect(result.stdout).toContain("CapEff:\t0000000000000000");
    expect(result.stdout).toContain("CapPrm:\t0000000000000000");
  });

  test.runIf(process.getuid?.() === 0)("root without capabilities cannot chown a file it may write", async () => {
    const { workspace } = fixture();
    writeFileSync(path.join(workspace, "mine"), "");
    const result = await sh("chown 12345 mine", { policy: WORKSPACE_WRITE, cwd: workspace });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain("not permitted");
  });

  test.each(modes)("%s: the llmx home is hidden", async (_mode, policy) => {
    const { workspace, home } = fixture();
    const result = await sh(`ls -A ${home}; cat ${home}/auth.json`, { policy, cwd: workspace, llmxHome: home });
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("No such file or directory");
    expect(result.aggregatedOutput).not.toContain("sk-test");
  });

  test("the llmx home stays visible (and writable) when it is listed as a writable root", async () => {
    const { workspace, home } = fixture();
    const sandbox = { policy: { ...WORKSPACE_WRITE, writable_roots: [home] }, cwd: workspace, llmxHome: home };
    expect((await sh(`ls -A ${home}`, sandbox)).stdout).toBe("auth.json\n");
    expect(await canCreate(path.join(home, "new"), sandbox)).toBe(true);
  });

  test.each(modes)("%s: its own pid namespace: it cannot see or signal the host's processes", async (_mode, policy) => {
    const { workspace } = fixture();
    const host = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const hostPid = host.pid as number;
      const result = await sh(`echo $$; ls /proc | grep -c '^[0-9]'; kill -9 ${hostPid} ${process.pid}; echo kill=$?`, {
        policy,
        cwd: workspace,
      });
      const [ownPid, visible, kill] = result.stdout.trim().split("\n");
      expect(Number(ownPid)).toBeLessThan(10);
      expect(Number(visible)).toBeLessThan(10);
      expect(kill).toBe("kill=1");
      expect(isGone(hostPid)).toBe(false);
    } finally {
      host.kill("SIGKILL");
    }
  });

  test("its own ipc and uts namespaces", async () => {
    const { workspace } = fixture();
    const result = await sh("readlink /proc/self/ns/uts /proc/self/ns/ipc", { policy: WORKSPACE_WRITE, cwd: workspace });
    const [uts, ipc] = result.stdout.trim().split("\n");
    expect(uts).toMatch(/^uts:/);
    expect(uts).not.toBe(readlinkSyncSafe("/proc/self/ns/uts"));
    expect(ipc).not.toBe(readlinkSyncSafe("/proc/self/ns/ipc"));
  });

  test("a timeout kills the command and everything it started inside the sandbox", async () => {
    const { workspace } = fixture();
    const marker = `${400 + (process.pid % 500)}.${++counter}`;
    const result = await sh(`sleep ${marker} & sleep ${marker}`, { policy: WORKSPACE_WRITE, cwd: workspace }, { timeoutMs: 500 });
    expect(result).toMatchObject({ exitCode: 124, timedOut: true });
    expect(await eventually(() => hostPidsRunning("sleep", marker).length === 0)).toBe(true);
  });

  test("background jobs end with the sandboxed command (its pid namespace ends)", async () => {
    const { workspace } = fixture();
    const marker = `${900 + (process.pid % 500)}.${++counter}`;
    const result = await sh(`sleep ${marker} & echo started`, { policy: WORKSPACE_WRITE, cwd: workspace });
    expect(result).toMatchObject({ exitCode: 0, stdout: "started\n" });
    expect(await eventually(() => hostPidsRunning("sleep", marker).length === 0)).toBe(true);
  });

  test("a missing program or working directory reports 127, as outside the sandbox", async () => {
    const { workspace } = fixture();
    const sandbox = { policy: READ_ONLY, cwd: workspace };
    const missingProgram = await runShellCommand({ command: ["no-such-program-llmx"], cwd: workspace, env: BASE_ENV, sandbox });
    expect(missingProgram.exitCode).toBe(127);
    const result = await runShellCommand({ command: ["true"], cwd: path.join(workspace, "missing"), env: BASE_ENV, sandbox });
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toContain("no such working directory");
  });
});

describe("a sandboxed command's lifetime", () => {
  const HERE = path.dirname(fileURLToPath(import.meta.url));

  test("it dies with its host process when that is SIGKILLed", async () => {
    const dir = freshDir("host");
    const marker = `${1400 + (process.pid % 500)}.${++counter}`;
    const script = `sleep ${marker} & sleep ${marker}`;
    const args = ["--import", "tsx", path.join(HERE, "shell-host.ts"), dir, script, "running", "sandboxed"];
    const host = spawn(process.execPath, args, { stdio: "ignore" });
    try {
      expect(await eventually(() => hostPidsRunning("sleep", marker).length === 2, 400)).toBe(true);
      host.kill("SIGKILL");
      expect(await eventually(() => hostPidsRunning("sleep", marker).length === 0)).toBe(true);
    } finally {
      host.kill("SIGKILL");
    }
  });

  test("it dies with the worker thread that started it (needs `npm run build`)", async () => {
    const dir = freshDir("worker");
    const marker = `${1900 + (process.pid % 500)}.${++counter}`;
    const worker = new Worker(
      `const { workerData } = require("node:worker_threads");
       import(workerData.tools).then(({ runShellCommand }) => runShellCommand({
         command: ["sh", "-c", workerData.script], cwd: workerData.dir, timeoutMs: 600000,
         sandbox: { policy: { mode: "workspace-write" }, cwd: workerData.dir } }));`,
      {
        eval: true,
        workerData: {
          tools: pathToFileURL(path.resolve(HERE, "../../dist/src/tools/index.js")).href,
          dir,
          script: `sleep ${marker} & sleep ${marker}`,
        },
      },
    );
    expect(await eventually(() => hostPidsRunning("sleep", marker).length === 2, 400)).toBe(true);
    await worker.terminate();
    expect(await eventually(() => hostPidsRunning("sleep", marker).length === 0)).toBe(true);
  });

  test("bwrap leads the process group the tracker holds, until the sandbox is gone", async () => {
    const { workspace } = fixture();
    const tracker = new ProcessGroupTracker({ reaper: null });
    const seen: [number, boolean][] = [];
    const result = await runShellCommand({
      command: ["true"],
      cwd: workspace,
      env: BASE_ENV,
      sandbox: { policy: WORKSPACE_WRITE, cwd: workspace },
      processGroups: tracker,
      onProcessGroup: (pgid, running) => seen.push([pgid, running]),
    });
    expect(result.exitCode).toBe(0);
    const [[pgid, started] = [0, false]] = seen;
    expect(started).toBe(true);
    expect(await eventually(() => !tracker.has(pgid))).toBe(true);
    expect(seen).toEqual([
      [pgid, true],
      [pgid, false],
    ]);
  });
});

describe("without a usable bwrap", () => {
  test("a command that needs the sandbox does not run: 126, and a SandboxUnavailableError naming the cause", async () => {
    const { workspace } = fixture();
    const marker = path.join(workspace, "ran");
    const sandbox = { policy: WORKSPACE_WRITE, cwd: workspace, bwrapPath: "/nonexistent/bwrap" };
    const result = await runShellCommand({ command: ["touch", marker], cwd: workspace, env: BASE_ENV, sandbox });

    expect(existsSync(marker)).toBe(false);
    expect(result.exitCode).toBe(126);
    expect(result.sandboxError).toBeInstanceOf(SandboxUnavailableError);
    expect(result.sandboxError).toMatchObject({ code: "sandbox_unavailable", bwrapPath: "/nonexistent/bwrap" });
    expect(result.stderr).toBe(result.sandboxError?.message);
    expect(result.stderr).toContain("/nonexistent/bwrap does not exist");
    expect(result.stderr).toContain("apt-get install bubblewrap");
    await expect(sandboxedArgv(["true"], workspace, BASE_ENV, sandbox)).rejects.toBeInstanceOf(SandboxUnavailableError);
  });

  test("bwrap that fails its trial run is reported with what it said", async () => {
    const fake = path.join(freshDir("fake-bwrap"), "bwrap");
    writeFileSync(fake, "#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n", { mode: 0o755 });
    const error = await probeSandbox(fake);
    expect(error).toBeInstanceOf(SandboxUnavailableError);
    expect(error?.message).toContain("No permissions to create a new namespace");
    expect(await probeSandbox(fake)).toBe(error);
  });
});

describe("bwrapArgs", () => {
  const layout: SandboxLayout = {
    writableRoots: ["/srv/project", "/tmp"],
    readOnlyPaths: ["/srv/project/.git"],
    hiddenPaths: ["/home/u/.llmx"],
    network: false,
  };

  test("namespaces, privileges and the filesystem, most general first, then the command", () => {
    expect(bwrapArgs(layout, ["ls", "-la"], "/srv/project/src")).toEqual([
      "--new-session",
      "--die-with-parent",
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--unshare-net",
      "--cap-drop",
      "ALL",
      "--ro-bind",
      "/",
      "/",
      "--dev",
      "/dev",
      "--proc",
      "/proc",
      "--bind",
      "/tmp",
      "/tmp",
      "--bind",
      "/srv/project",
      "/srv/project",
      "--ro-bind",
      "/srv/project/.git",
      "/srv/project/.git",
      "--tmpfs",
      "/home/u/.llmx",
      "--remount-ro",
      "/home/u/.llmx",
      "--chdir",
      "/srv/project/src",
      "--",
      "ls",
      "-la",
    ]);
  });

  test("keeps the host network when allowed", () => {
    expect(bwrapArgs({ ...layout, network: true }, ["true"], "/")).not.toContain("--unshare-net");
  });

  test("a writable root inside the hidden llmx home is bound after the tmpfs that hides the rest", () => {
    const nested: SandboxLayout = { writableRoots: ["/home/u/.llmx/work"], readOnlyPaths: [], hiddenPaths: ["/home/u/.llmx"], network: false };
    const args = bwrapArgs(nested, ["true"], "/");
    expect(args.indexOf("--tmpfs")).toBeLessThan(args.indexOf("--bind"));
  });
});

describe("sandboxLayout", () => {
  test("workspace-write: cwd, policy and caller roots, /tmp and $TMPDIR by their real paths; protected paths inside them", () => {
    const { workspace, home } = fixture();
    const extra = freshDir("extra");
    const link = path.join(scratch, `link-${++counter}`);
    symlinkSync(extra, link);
    const tmpdirEnv = freshDir("tmpdir");
    const policy: SandboxPolicy = { mode: "workspace-write", writable_roots: [link, path.join(scratch, "does-not-exist")] };
    const layout = sandboxLayout({ policy, cwd: workspace, llmxHome: home }, { TMPDIR: tmpdirEnv });
    expect(layout).toEqual({
      writableRoots: [workspace, extra, "/tmp", tmpdirEnv],
      readOnlyPaths: [path.join(workspace, ".git")],
      hiddenPaths: [home],
      network: false,
    });
  });

  test("read-only: no writable roots, the home hidden", () => {
    const { workspace, home } = fixture();
    expect(sandboxLayout({ policy: READ_ONLY, cwd: workspace, llmxHome: home }, {})).toEqual({
      writableRoots: [],
      readOnlyPaths: [],
      hiddenPaths: [home],
      network: false,
    });
  });
});

describe("the environment policy", () => {
  test("reaches the command: secrets removed, set applied, include_only honoured (sandboxed or not)", async () => {
    const { workspace } = fixture();
    const hostEnv = { ...BASE_ENV, OPENAI_API_KEY: "sk-host", AWS_SECRET_ACCESS_KEY: "x", KEEP_ME: "1", DROP_ME: "1" };
    const policy = { inherit: "all" as const, ignoreDefaultExcludes: false, exclude: ["DROP_*"], set: { ADDED: "yes" }, includeOnly: [] };
    for (const sandboxPolicy of [WORKSPACE_WRITE, { mode: "danger-full-access" } as const]) {
      const result = await runShellCommand({
        command: ["env"],
        cwd: workspace,
        env: commandEnvironment(policy, hostEnv),
        sandbox: { policy: sandboxPolicy, cwd: workspace },
      });
      const names = result.stdout.split("\n").filter(Boolean).map((line) => line.split("=")[0]);
      expect(names).toEqual(expect.arrayContaining(["PATH", "KEEP_ME", "ADDED"]));
      expect(names).not.toContain("OPENAI_API_KEY");
      expect(names).not.toContain("AWS_SECRET_ACCESS_KEY");
      expect(names).not.toContain("DROP_ME");
      expect(result.stdout).toContain("ADDED=yes\n");
    }
  });
});

/** A bash script that opens a TCP connection to the loopback port and exits 0 when it connected. */
function connectScript(port: number): string {
  return `exec 3<>/dev/tcp/127.0.0.1/${port}`;
}

/**
 * Runs `body` with a loopback TCP server; `connections()` counts the connections it accepted so far (the server
 * may accept one after the client has exited: wait for a count to be reached).
 */
async function withServer(body: (port: number, connections: () => number) => Promise<void>): Promise<void> {
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const port = (server.address() as { port: number }).port;
    await body(port, () => accepted);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Host pids of running (not zombie) processes whose argv is exactly `argv`. */
function hostPidsRunning(...argv: string[]): number[] {
  const wanted = argv.join("\0");
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0$/, "") === wanted && !isGone(Number(entry));
      } catch {
        return false;
      }
    })
    .map(Number);
}

function readlinkSyncSafe(link: string): string | undefined {
  try {
    return readlinkSync(link);
  } catch {
    return undefined;
  }
}

// Commands never outlive their owner: background jobs left in a command's process group are tracked until they
// end and killed by killAll, and the whole tree dies when the host process is SIGKILLed.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, test } from "vitest";
import {
  ProcessGroupTracker,
  ProcessReaper,
  isProcessGroupAlive,
  killProcessGroup,
  pdeathsigHelper,
  runShellCommand,
  withParentDeathSignal,
} from "../../src/tools/index.js";
import { eventually, isGone, readPid } from "./processes.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const HOST = path.join(HERE, "shell-host.ts");
/** Worker threads load the compiled tools (tsx cannot run TypeScript inside worker threads on Node 20). */
const BUILT_TOOLS = path.resolve(HERE, "../../dist/src/tools/index.js");

const dirs: string[] = [];
const leftovers: number[] = [];
const hosts: ChildProcess[] = [];
afterEach(async () => {
  for (const host of hosts.splice(0)) host.kill("SIGKILL");
  for (const pid of leftovers.splice(0)) killProcessGroup(pid);
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "llmx-procs-"));
  dirs.push(dir);
  return dir;
}

/** Starts `sh -c script` in its own process group, as a command would be, outside any tracker. */
function startGroup(script: string): number {
  const child = spawn("sh", ["-c", script], { detached: true, stdio: "ignore" });
  child.unref();
  const pid = child.pid ?? 0;
  leftovers.push(pid);
  return pid;
}

// Writes the pids of a subshell's background job and of a nohup'd one (run from the command's directory).
const BACKGROUND_JOBS = "(sleep 100 >/dev/null 2>&1 & echo $! > subshell.pid); nohup sleep 100 >/dev/null 2>&1 & echo $! > nohup.pid";

describe("ProcessGroupTracker", () => {
  test("keeps a group whose command exited while its background jobs run, and killAll kills them", async () => {
    const dir = await tempDir();
    const reports: [number, boolean][] = [];
    const tracker = new ProcessGroupTracker({ onChange: (pgid, running) => reports.push([pgid, running]) });
    const perCall: boolean[] = [];

    const result = await runShellCommand({
      command: ["sh", "-c", `${BACKGROUND_JOBS}; echo $$`],
      cwd: dir,
      processGroups: tracker,
      onProcessGroup: (_pgid, running) => perCall.push(running),
    });
    const pgid = Number(result.stdout.trim().split("\n").at(-1));
    const jobs = [readPid(path.join(dir, "subshell.pid")), readPid(path.join(dir, "nohup.pid"))];
    leftovers.push(pgid);

    expect(result.exitCode).toBe(0);
    expect(jobs.every((pid) => pid !== undefined && !isGone(pid))).toBe(true);
    expect(tracker.pgids()).toEqual([pgid]);
    expect(reports).toEqual([[pgid, true]]);
    expect(perCall).toEqual([true]);

    expect(tracker.killAll()).toEqual([pgid]);
    expect(await eventually(() => jobs.every((pid) => isGone(pid ?? 0)))).toBe(true);
    expect(tracker.size).toBe(0);
    expect(reports).toEqual([
      [pgid, true],
      [pgid, false],
    ]);
    expect(perCall).toEqual([true, false]);
  });

  test("reports a group ended at once when its command leaves nothing behind", async () => {
    const reports: boolean[] = [];
    const tracker = new ProcessGroupTracker({ onChange: (_pgid, running) => reports.push(running) });
    await runShellCommand({ command: ["sh", "-c", "sleep 0.01"], cwd: tmpdir(), processGroups: tracker });
    expect(reports).toEqual([true, false]);
    expect(tracker.size).toBe(0);
  });

  test("stops tracking a lingering group once its background jobs end", async () => {
    const dir = await tempDir();
    const tracker = new ProcessGroupTracker({ pollIntervalMs: 50 });
    const result = await runShellCommand({
      command: ["sh", "-c", "(while [ ! -e stop ]; do sleep 0.05; done >/dev/null 2>&1 &); echo $$"],
      cwd: dir,
      processGroups: tracker,
    });
    const pgid = Number(result.stdout.trim());
    leftovers.push(pgid);
    expect(tracker.has(pgid)).toBe(true);

    await writeFile(path.join(dir, "stop"), "");
    expect(await eventually(() => !tracker.has(pgid))).toBe(true);
  });

  test("killAll also kills commands still running, and their own commands then report nothing new", async () => {
    const tracker = new ProcessGroupTracker();
    const started = new Promise<number>((resolve) => {
      void runShellCommand({
        command: ["sh", "-c", "echo $$; sleep 100"],
        cwd: tmpdir(),
        timeoutMs: 60_000,
        processGroups: tracker,
        onOutput: (_stream, chunk) => resolve(Number(chunk.toString().trim())),
      });
    });
    const pgid = await started;
    leftovers.push(pgid);
    expect(tracker.killAll()).toEqual([pgid]);
    expect(await eventually(() => !isProcessGroupAlive(pgid))).toBe(true);
    expect(tracker.size).toBe(0);
  });
});

describe("ProcessReaper", () => {
  test("kills the groups still recorded when its pipe closes, and spares the removed ones", async () => {
    const reaper = new ProcessReaper();
    const kept = startGroup("sleep 100");
    const removed = startGroup("sleep 100");
    reaper.add(kept);
    reaper.add(removed);
    reaper.remove(removed);
    const watcher = reaper.pid ?? 0;
    expect(watcher).toBeGreaterThan(0);

    reaper.close();
    expect(await eventually(() => !isProcessGroupAlive(kept) && isGone(watcher))).toBe(true);
    expect(isProcessGroupAlive(removed)).toBe(true);
  });

  test("starts another watcher when its own dies, recording the groups again", async () => {
    const reaper = new ProcessReaper();
    const group = startGroup("sleep 100");
    reaper.add(group);
    const first = reaper.pid;
    if (first === undefined) throw new Error("the reaper did not start");
    process.kill(first, "SIGKILL");
    expect(await eventually(() => reaper.pid === undefined)).toBe(true);

    reaper.add(startGroup("sleep 100"));
    expect(reaper.pid).toBeGreaterThan(0);
    expect(reaper.recorded()).toContain(group);
    reaper.close();
    expect(await eventually(() => !isProcessGroupAlive(group))).toBe(true);
  });
});

describe("withParentDeathSignal", () => {
  test("wraps a runnable program in setpriv when it is available, and leaves missing programs alone", () => {
    const helper = pdeathsigHelper();
    if (helper !== undefined) {
      expect(withParentDeathSignal(["sh", "-c", "true"], tmpdir(), process.env)).toEqual([
        helper,
        "--pdeathsig",
        "KILL",
        "--",
        "sh",
        "-c",
        "true",
      ]);
    }
    expect(withParentDeathSignal(["definitely-not-a-command-llmx"], tmpdir(), process.env)).toEqual([
      "definitely-not-a-command-llmx",
    ]);
  });
});

describe("a command whose host process is SIGKILLed", () => {
  /** Runs test/tools/shell-host.ts under tsx with `script` in `dir`, and waits for the files it writes. */
  async function startHost(dir: string, script: string, mode: "running" | "exited", ready: string[]) {
    const host = spawn(process.execPath, ["--import", "tsx", HOST, dir, script, mode], { stdio: "ignore" });
    hosts.push(host);
    const there = (file: string) =>
      file.endsWith(".pid") ? readPid(path.join(dir, file)) !== undefined : existsSync(path.join(dir, file));
    expect(await eventually(() => ready.every(there), 400)).toBe(true);
    return host;
  }

  test("dies with it while running, its background jobs included", async () => {
    const dir = await tempDir();
    const script = `echo $$ > leader.pid; ${BACKGROUND_JOBS}; while :; do date +%s%N > marker; sleep 0.05; done`;
    const host = await startHost(dir, script, "running", ["leader.pid", "subshell.pid", "nohup.pid", "marker"]);
    const pids = ["leader.pid", "subshell.pid", "nohup.pid"].map((file) => readPid(path.join(dir, file)) ?? 0);
    leftovers.push(pids[0] ?? 0);
    expect(pids.every((pid) => pid > 0 && !isGone(pid))).toBe(true);

    host.kill("SIGKILL");
    expect(await eventually(() => pids.every(isGone))).toBe(true);
  });

  test("takes the background jobs of a command that already exited with it", async () => {
    const dir = await tempDir();
    const host = await startHost(dir, `echo $$ > leader.pid; ${BACKGROUND_JOBS}`, "exited", [
      "exited",
      "subshell.pid",
      "nohup.pid",
    ]);
    const jobs = ["subshell.pid", "nohup.pid"].map((file) => readPid(path.join(dir, file)) ?? 0);
    leftovers.push(readPid(path.join(dir, "leader.pid")) ?? 0);
    expect(jobs.every((pid) => pid > 0 && !isGone(pid))).toBe(true);

    host.kill("SIGKILL");
    expect(await eventually(() => jobs.every(isGone))).toBe(true);
  });
});

describe("a command whose worker thread ends", () => {
  test("dies with the thread, its background jobs included (needs `npm run build`)", async () => {
    const dir = await tempDir();
    const worker = new Worker(
      `const { workerData } = require("node:worker_threads");
       import(workerData.tools).then(({ runShellCommand }) =>
         runShellCommand({ command: ["sh", "-c", workerData.script], cwd: workerData.dir, timeoutMs: 600000 }));`,
      {
        eval: true,
        workerData: {
          tools: pathToFileURL(BUILT_TOOLS).href,
          dir,
          script: `echo $$ > leader.pid; ${BACKGROUND_JOBS}; sleep 100`,
        },
      },
    );
    const files = ["leader.pid", "subshell.pid", "nohup.pid"].map((file) => path.join(dir, file));
    expect(await eventually(() => files.every((file) => readPid(file) !== undefined), 400)).toBe(true);
    const pids = files.map((file) => readPid(file) ?? 0);
    leftovers.push(pids[0] ?? 0);
    expect(pids.every((pid) => !isGone(pid))).toBe(true);

    await worker.terminate();
    expect(await eventually(() => pids.every(isGone))).toBe(true);
  });
});

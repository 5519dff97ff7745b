// Ctrl-C in `llmx exec`, on the built CLI against the mock model: the first SIGINT interrupts the turn (the
// command's processes die, the rollout records `turn_aborted`) and the CLI exits with 130.
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startMockModelServer, type MockModelServer } from "../src/mock-model/index.js";
import { CLI, mockConfigToml, useRuntime } from "./helpers.js";
import { eventually, isGone, readPid } from "./tools/processes.js";

const runtime = useRuntime();
let server: MockModelServer;
const clis: ChildProcess[] = [];

beforeAll(async () => {
  server = await startMockModelServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  for (const cli of clis.splice(0)) cli.kill("SIGKILL");
});

async function mockHome(): Promise<string> {
  const home = await runtime.home();
  await writeFile(path.join(home, "config.toml"), mockConfigToml(server.url));
  return home;
}

/** Starts `llmx <args>` in `home`: `exited` resolves its exit code (or signal name), `stderr()` what it wrote there. */
function startCli(home: string, args: string[]) {
  const cli = spawn(process.execPath, [CLI, ...args], {
    cwd: home,
    env: { ...process.env, LLMX_HOME: home, HOME: home },
    stdio: ["ignore", "ignore", "pipe"],
  });
  clis.push(cli);
  let stderr = "";
  cli.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) => cli.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  return { cli, exited, stderr: () => stderr };
}

async function rolloutLines(home: string): Promise<Record<string, unknown>[]> {
  const files = (await readdir(path.join(home, "sessions"), { recursive: true })).filter((file) => file.endsWith(".jsonl"));
  expect(files).toHaveLength(1);
  const text = await readFile(path.join(home, "sessions", files[0] ?? ""), "utf8");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("Ctrl-C in llmx exec", () => {
  it("interrupts the running command, records turn_aborted and exits with 130", async () => {
    const home = await mockHome();
    const script = "echo $$ > leader.pid; (sleep 100 >/dev/null 2>&1 & echo $! > job.pid); sleep 100";
    const { cli, exited } = startCli(home, ["exec", "--json", "-a", "never", "-s", "danger-full-access", `RUNSHELL: ${script}`]);
    const pidFiles = ["leader.pid", "job.pid"].map((file) => path.join(home, file));
    expect(await eventually(() => pidFiles.every((file) => readPid(file) !== undefined), 400)).toBe(true);
    const pids = pidFiles.map((file) => readPid(file) ?? 0);
    expect(pids.every((pid) => !isGone(pid))).toBe(true);

    cli.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(await eventually(() => pids.every(isGone))).toBe(true);
    const events = (await rolloutLines(home)).filter((line) => line.type === "event_msg").map((line) => line.payload);
    expect(events).toContainEqual(expect.objectContaining({ type: "turn_aborted", reason: "interrupted" }));
  });

  it("a second Ctrl-C exits with 130 too, and the command does not outlive the CLI", async () => {
    const home = await mockHome();
    const { cli, exited, stderr } = startCli(home, ["exec", "-a", "never", "-s", "danger-full-access", "RUNSHELL: echo $$ > leader.pid; sleep 100"]);
    const pidFile = path.join(home, "leader.pid");
    expect(await eventually(() => readPid(pidFile) !== undefined, 400)).toBe(true);
    const leader = readPid(pidFile) ?? 0;

    cli.kill("SIGINT");
    expect(await eventually(() => stderr().includes("Ctrl-C again"))).toBe(true);
    cli.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(await eventually(() => isGone(leader))).toBe(true);
  });
});

// The turns workload of bench/turns.ts driven over an app-server's stdio JSON-RPC (Codex's protocol): thread/start
// N threads, then turn/start one turn each, and wait for every turn/completed. Used for the real Codex
// app-server (bench/codex.ts) and for `llmx app-server` (bench/app-server.ts).
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { tempDir } from "./home.js";
import { currentRss } from "./proc.js";
import { settle } from "./stats.js";
import { measureProcess, type TurnResult } from "./turn-result.js";

type Pending = { resolve(value: unknown): void; reject(error: Error): void };

/** How to start one app-server speaking Codex's protocol on stdio. */
export type AppServerCommand = { system: string; command: string; args: string[]; env: NodeJS.ProcessEnv; cwd: string };

export async function runAppServerCase(n: number, server: AppServerCommand): Promise<TurnResult> {
  const { cwd, env } = server;
  const child = spawn(server.command, server.args, { cwd, env, stdio: ["pipe", "pipe", "ignore"] });
  const pending = new Map<number, Pending>();
  const turnDone = new Map<string, () => void>();
  const ran = new Set<string>();
  const answered = new Set<string>();
  let nextId = 1;
  createInterface({ input: child.stdout }).on("line", (line) => {
    const message = JSON.parse(line) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };
    if (message.id !== undefined && message.method === undefined) {
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message.result);
      return;
    }
    const params = message.params ?? {};
    const threadId = params.threadId as string;
    if (message.method === "item/completed") {
      const item = params.item as { type: string; exitCode?: number; text?: string };
      if (item.type === "commandExecution" && item.exitCode === 0) ran.add(threadId);
      if (item.type === "agentMessage" && item.text === "Tool said: hi") answered.add(threadId);
    }
    if (message.method === "turn/completed") turnDone.get(threadId)?.();
  });
  const call = <T>(method: string, params: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.stdin.write(`${JSON.stringify({ id, method, params })}\n`);
    });
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`${server.system} exited with ${code}`))));

  try {
    await Promise.race([call("initialize", { clientInfo: { name: "llmx_bench", title: null, version: "0.0.1" } }), exited]);
    child.stdin.write(`${JSON.stringify({ method: "initialized" })}\n`);
    await settle();
    const baselineRss = currentRss(child.pid);
    const finish = measureProcess(child.pid as number);
    const start = performance.now();
    const threads = await Promise.race([
      Promise.all(
        Array.from({ length: n }, () =>
          call<{ thread: { id: string } }>("thread/start", { cwd, approvalPolicy: "never", sandbox: "danger-full-access" }),
        ),
      ),
      exited,
    ]);
    const spawned = performance.now();
    const latencies: number[] = [];
    await Promise.race([
      Promise.all(
        threads.map(async ({ thread }) => {
          const t0 = performance.now();
          const done = new Promise<void>((resolve) => turnDone.set(thread.id, resolve));
          await call("turn/start", { threadId: thread.id, input: [{ type: "text", text: "RUNSHELL: echo hi", text_elements: [] }] });
          await done;
          latencies.push(performance.now() - t0);
        }),
      ),
      exited,
    ]);
    const end = performance.now();
    const ok = threads.filter(({ thread }) => ran.has(thread.id) && answered.has(thread.id)).length;
    return finish({
      system: server.system,
      n,
      ok,
      wallMs: end - start,
      spawnMs: spawned - start,
      turnsMs: end - spawned,
      latencies,
      baselineRss,
    });
  } finally {
    exited.catch(() => undefined);
    child.stdin.end();
    child.kill();
  }
}

const CLI = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));

/** `llmx app-server` (the built CLI) over stdio, its home set up for the mock model at `url`. */
export async function runLlmxAppServer(n: number, url: string): Promise<TurnResult> {
  const home = tempDir("app-server-home");
  writeFileSync(
    path.join(home, "config.toml"),
    `model = "mock-model"\nmodel_provider = "mock"\napproval_policy = "never"\nsandbox_mode = "danger-full-access"\n` +
      `[model_providers.mock]\nbase_url = "${url}"\nwire_api = "responses"\nrequest_max_retries = 2\nstream_max_retries = 2\n`,
  );
  const env = { ...process.env, HOME: tempDir("home"), LLMX_HOME: home };
  const args = [CLI, "app-server", "--max-conversations", String(n)];
  return runAppServerCase(n, { system: "llmx app-server", command: process.execPath, args, env, cwd: home });
}

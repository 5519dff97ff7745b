// The real Codex app-server (npm `@openai/codex`, pinned), installed into .cache/bench/codex on first use and
// driven over stdio JSON-RPC with the same workload as bench/turns.ts: thread/start N threads, then turn/start
// one turn each, and wait for every turn/completed.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { tempDir } from "./home.js";
import { currentRss } from "./proc.js";
import { settle } from "./stats.js";
import { measureProcess, type TurnResult } from "./turn-result.js";

export const CODEX_VERSION = "0.169.0";
const CACHE = fileURLToPath(new URL(`../../.cache/bench/codex-${CODEX_VERSION}`, import.meta.url));

/** The native binary (the npm package's `bin/codex.js` only finds and spawns it). Installs it if needed. */
export function codexBinary(): string {
  const find = (): string | undefined => {
    const scope = path.join(CACHE, "node_modules", "@openai");
    if (!existsSync(scope)) return undefined;
    for (const pkg of readdirSync(scope).filter((name) => name.startsWith("codex-"))) {
      const vendor = path.join(scope, pkg, "vendor");
      for (const triple of existsSync(vendor) ? readdirSync(vendor) : []) {
        const bin = path.join(vendor, triple, "bin", "codex");
        if (existsSync(bin)) return bin;
      }
    }
    return undefined;
  };
  const found = find();
  if (found) return found;
  mkdirSync(CACHE, { recursive: true });
  const npm = spawnSync("npm", ["install", "--prefix", CACHE, "--no-audit", "--no-fund", `@openai/codex@${CODEX_VERSION}`], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const installed = find();
  if (npm.status !== 0 || installed === undefined) throw new Error(`could not install @openai/codex@${CODEX_VERSION} into ${CACHE}`);
  return installed;
}

/** A CODEX_HOME whose config points the `mock` provider at the bench model server, with network extras off. */
function codexHome(url: string): string {
  const home = tempDir("codex-home");
  const config = `
model = "mock-model"
model_provider = "mock"
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[model_providers.mock]
name = "mock"
base_url = "${url}"
wire_api = "responses"
request_max_retries = 2
stream_max_retries = 2

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false
plugin_sharing = false
in_app_updates = false
tool_suggest = false
daemon_auto_start = false
`;
  writeFileSync(path.join(home, "config.toml"), config);
  return home;
}

type Pending = { resolve(value: unknown): void; reject(error: Error): void };

export async function runCodexCase(n: number, url: string, binary: string): Promise<TurnResult> {
  const cwd = tempDir("codex-cwd");
  const env = { ...process.env, HOME: tempDir("home"), CODEX_HOME: codexHome(url), CODEX_MANAGED_BY_NPM: "1" };
  const child = spawn(binary, ["app-server"], { cwd, env, stdio: ["pipe", "pipe", "ignore"] });
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
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`codex app-server exited with ${code}`))));

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
      system: `codex app-server ${CODEX_VERSION}`,
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

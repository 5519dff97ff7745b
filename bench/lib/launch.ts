// How bench scripts run. Under the tsx CLI, node's execArgv carries tsx's loader and every worker thread
// inherits it, which makes each worker ~2.5x slower to start and bigger (DESIGN.md decision 8): spawn and
// density figures would measure tsx, not llmx. So a script started as `tsx bench/x.ts` re-runs itself in a
// plain `node` that registers tsx in its main thread only; workers then load dist/ exactly as in production.
// Import this module first in every bench script.
import { spawn, spawnSync, type SpawnOptions } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";

const TSX_API = import.meta.resolve("tsx/esm/api");

/** Arguments for `node` that run a TypeScript script with tsx registered in the main thread only. */
export function nodeArgsFor(script: string, args: readonly string[] = []): string[] {
  const url = pathToFileURL(path.resolve(script)).href;
  const code = [
    `import { register } from ${JSON.stringify(TSX_API)};`,
    `register();`,
    `process.argv.splice(1, 0, ${JSON.stringify(path.resolve(script))});`,
    `await import(${JSON.stringify(url)});`,
  ].join(" ");
  // No --expose-gc: a V8 flag is the whole process's, and that one adds ~3 ms to every worker thread's start
  // (BENCHMARKS.md). settle() gets its gc() without it.
  return ["--input-type=module", "-e", code, "--", ...args];
}

/** Runs a bench script in a clean child process; resolves with its stdout (stderr passes through). */
export function runScript(script: string, args: readonly string[] = [], options: SpawnOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, nodeArgsFor(script, args), { stdio: ["ignore", "pipe", "inherit"], ...options });
    let out = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${script} ${args.join(" ")} exited with ${code}\n${out}`))));
  });
}

const underTsxCli = process.execArgv.some((arg) => /tsx[\\/]dist[\\/](loader|preflight)/.test(arg));
if (underTsxCli && process.argv[1] !== undefined && process.env.LLMX_BENCH_CHILD === undefined) {
  const env = { ...process.env, LLMX_BENCH_CHILD: "1" };
  const result = spawnSync(process.execPath, nodeArgsFor(process.argv[1], process.argv.slice(2)), { stdio: "inherit", env });
  process.exit(result.status ?? 1);
}

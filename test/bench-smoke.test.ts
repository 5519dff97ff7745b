// Keeps the bench scripts from rotting: each runs with tiny sizes (--quick) and prints its table. Timings are
// never asserted here; they belong in BENCHMARKS.md. The Codex comparison is left out (it downloads Codex).
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { nodeArgsFor } from "../bench/lib/launch.js";

const BENCH = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bench");
const run = promisify(execFile);

describe.concurrent("bench scripts run with --quick and print their tables", () => {
  it.each([
    ["spawn", "### spawn:"],
    ["density", "### density:"],
    ["channel", "### channel:"],
    ["turns", "### turns:"],
    ["rollouts", "### rollouts:"],
    ["sandbox", "### sandbox:"],
    ["slow-reader", "### slow-reader:"],
    ["app-server", "### turns, llmx library vs llmx app-server"],
    ["app-server-transport", "### app-server:"],
    ["spawn-commands", "### spawn-commands:"],
  ])("%s", async (name, title) => {
    const { stdout } = await run(process.execPath, nodeArgsFor(path.join(BENCH, `${name}.ts`), ["--quick"]), { timeout: 60_000 });
    expect(stdout).toContain(title);
    expect(stdout).toMatch(/^\| .+ \|$/m);
  }, 90_000);
});

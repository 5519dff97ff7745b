// Sandbox overhead: the wall time of runShellCommand(["true"]) unsandboxed and under each sandbox mode (bwrap),
// scenarios interleaved command by command so that they share the machine's noise. The overhead is the median
// of a mode minus the unsandboxed median. bwrap's one probe per thread is made before the clock starts.
// Usage: tsx bench/sandbox.ts [--quick] [--runs N]   (N commands per scenario, default 200)
import "./lib/launch.js";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { probeSandbox, runShellCommand, type SandboxOptions } from "../src/index.js";
import { tempDir } from "./lib/home.js";
import { benchArgs, ms, num, printMachine, printTable, summarize } from "./lib/stats.js";

const args = benchArgs();
const runs = args.runs(args.quick ? 5 : 200);
const GOAL_MS = 15;

const root = tempDir("sandbox");
const workspace = path.join(root, "workspace");
const home = path.join(root, "llmx-home");
mkdirSync(path.join(workspace, ".git"), { recursive: true });
mkdirSync(home);
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

type Scenario = { name: string; sandbox: SandboxOptions | undefined };
const scenarios: Scenario[] = [
  { name: "unsandboxed", sandbox: undefined },
  { name: "read-only", sandbox: { policy: { mode: "read-only" }, cwd: workspace, llmxHome: home } },
  { name: "workspace-write", sandbox: { policy: { mode: "workspace-write" }, cwd: workspace, llmxHome: home } },
  {
    name: "workspace-write, network_access",
    sandbox: { policy: { mode: "workspace-write", network_access: true }, cwd: workspace, llmxHome: home },
  },
];

const unavailable = await probeSandbox();
if (unavailable !== undefined) throw unavailable;

async function once(scenario: Scenario): Promise<number> {
  const start = performance.now();
  const result = await runShellCommand({ command: ["true"], cwd: workspace, env, sandbox: scenario.sandbox });
  const elapsed = performance.now() - start;
  if (result.exitCode !== 0) throw new Error(`${scenario.name}: exit ${result.exitCode}: ${result.aggregatedOutput}`);
  return elapsed;
}

printMachine("sandbox");
for (const scenario of scenarios) await once(scenario); // warm-up: modules, setpriv lookup, page cache
const samples = new Map(scenarios.map((scenario) => [scenario.name, [] as number[]]));
for (let run = 0; run < runs; run++) {
  for (const scenario of scenarios) samples.get(scenario.name)?.push(await once(scenario));
}

const baseline = summarize(samples.get("unsandboxed") ?? []).median;
const rows = scenarios.map((scenario) => {
  const s = summarize(samples.get(scenario.name) ?? []);
  const overhead = scenario.sandbox === undefined ? "-" : ms(s.median - baseline);
  return [scenario.name, String(s.n), ms(s.median), ms(s.p99), `${num(s.min)}..${num(s.max)} ms`, overhead];
});
printTable(`sandbox: runShellCommand(["true"]), ${runs} per scenario, interleaved`, ["scenario", "n", "median", "p99", "min..max", "overhead (median)"], rows);
const worst = Math.max(...scenarios.filter((s) => s.sandbox !== undefined).map((s) => summarize(samples.get(s.name) ?? []).median - baseline));
console.log(`\nworst median overhead ${ms(worst)}: goal ≤ ${GOAL_MS} ms ${worst <= GOAL_MS ? "met" : "missed"}`);

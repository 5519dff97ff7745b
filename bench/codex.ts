// Side by side with Codex: the turns workload (N conversations x one turn with one shell call, the mock model
// over HTTP in its own process) run by llmx and by the real Codex app-server in the same run, both with an empty
// HOME. llmx runs three ways: the library with one thread per conversation (the default), the library dense with
// one thread per core, and `llmx app-server` driven by the same JSON-RPC client as Codex's. Prints all runs and
// the llmx/Codex ratios (below 1 means llmx is faster or smaller).
// Usage: tsx bench/codex.ts [--quick] [--sizes 10,100] [--runs N]
import "./lib/launch.js";
import { cpus } from "node:os";
import { runLlmxAppServer } from "./lib/app-server-case.js";
import { bareThreadRss } from "./lib/bare-threads.js";
import { CODEX_VERSION, codexBinary, runCodexCase } from "./lib/codex-app-server.js";
import { startModelServerProcess } from "./lib/model-server.js";
import { benchArgs, num, printMachine, printTable, summarize } from "./lib/stats.js";
import { TURN_HEADER, runTurnCase, turnRow, type TurnResult } from "./lib/turn-result.js";

const args = benchArgs(["sizes"]);
const sizes = (args.get("sizes") ?? (args.quick ? "2" : "10,100")).split(",").map(Number);
const runs = args.runs(args.quick ? 1 : 3);

printMachine("codex");
let binary: string;
try {
  binary = codexBinary();
} catch (error) {
  console.log(`Codex comparison skipped: ${(error as Error).message}`);
  process.exit(0);
}
const server = await startModelServerProcess();
const rows: string[][] = [];
const ratios: string[][] = [];
const floors: string[][] = [];
const medianOf = (results: TurnResult[], pick: (r: TurnResult) => number) => summarize(results.map(pick)).median;
try {
  for (const n of sizes) {
    // llmx as configured by default (one thread per conversation), and dense with one thread per core.
    const perThread = Math.ceil(n / cpus().length);
    const results: Record<"llmx" | "dense" | "appServer" | "codex", TurnResult[]> = { llmx: [], dense: [], appServer: [], codex: [] };
    for (let run = 0; run < runs; run++) {
      results.llmx.push(await runTurnCase(String(n), server.url, 1));
      results.dense.push(await runTurnCase(`${n}:dense`, server.url, perThread));
      // Both app-servers driven by the same JSON-RPC client (bench/lib/app-server-case.ts).
      results.appServer.push(await runLlmxAppServer(n, server.url));
      results.codex.push(await runCodexCase(n, server.url, binary));
    }
    // The floor of one thread per conversation: n bare threads alive, against Codex's peak.
    const floor = (n * (await bareThreadRss(n))) / 2 ** 20;
    floors.push([String(n), `${num(floor)} MiB`, `${num(floor / (medianOf(results.codex, (r) => r.peakRss) / 2 ** 20))}x`]);
    for (const list of Object.values(results)) for (const [i, r] of list.entries()) rows.push(turnRow(r, `${r.system} #${i + 1}`));
    const codex = results.codex;
    for (const llmx of [results.llmx, results.dense, results.appServer]) {
      const ratio = (pick: (r: TurnResult) => number) => `${num(medianOf(llmx, pick) / medianOf(codex, pick))}`;
      const p = (q: "p50" | "p99") => (r: TurnResult) => summarize(r.latencies)[q];
      ratios.push([
        String(n),
        llmx[0]?.system ?? "",
        ratio((r) => r.wallMs),
        ratio((r) => r.turnsMs),
        ratio(p("p50")),
        ratio(p("p99")),
        ratio((r) => r.cpuSelf + r.cpuChildren),
        ratio((r) => r.peakRss),
        ratio((r) => r.peakTreeRss),
        `${num(medianOf(codex, (r) => r.wallMs) / medianOf(llmx, (r) => r.wallMs))}x`,
      ]);
    }
  }
} finally {
  server.close();
}
printTable(`turns, llmx vs codex app-server ${CODEX_VERSION} (${runs} runs each, interleaved)`, TURN_HEADER, rows);
printTable(
  "llmx / Codex ratios (medians of runs; < 1 is better for llmx)",
  ["N", "llmx mode", "wall", "turns phase", "turn p50", "turn p99", "CPU s", "peak RSS", "peak tree RSS", "llmx speed-up (wall)"],
  ratios,
);
printTable(
  "the floor of one thread per conversation: N bare worker threads alive (default heap limits), RSS over the process's before",
  ["N", "RSS of N bare threads", "/ Codex peak RSS"],
  floors,
);

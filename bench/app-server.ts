// The app-server's cost: the turns workload (N threads x one turn with one shell call, the mock model over HTTP
// in its own process) run by llmx through the library in-process (bench/turns.ts) and by `llmx app-server` driven
// over stdio JSON-RPC exactly as bench/codex.ts drives Codex's app-server. Runs are interleaved; both start with
// an empty HOME. The difference is what the protocol layer (mapping, JSON, the pipe, one more process) costs.
// Usage: tsx bench/app-server.ts [--quick] [--sizes 10,50] [--runs N]
import "./lib/launch.js";
import { runLlmxAppServer } from "./lib/app-server-case.js";
import { startModelServerProcess } from "./lib/model-server.js";
import { benchArgs, num, printMachine, printTable, summarize } from "./lib/stats.js";
import { TURN_HEADER, runTurnCase, turnRow, type TurnResult } from "./lib/turn-result.js";

const args = benchArgs(["sizes"]);
const sizes = (args.get("sizes") ?? (args.quick ? "2" : "10,50")).split(",").map(Number);
const runs = args.runs(args.quick ? 1 : 3);

printMachine("app-server");
const server = await startModelServerProcess();
const rows: string[][] = [];
const ratios: string[][] = [];
const medianOf = (results: TurnResult[], pick: (r: TurnResult) => number) => summarize(results.map(pick)).median;
try {
  for (const n of sizes) {
    const library: TurnResult[] = [];
    const appServer: TurnResult[] = [];
    for (let run = 0; run < runs; run++) {
      library.push(await runTurnCase(String(n), server.url, 1));
      appServer.push(await runLlmxAppServer(n, server.url));
    }
    for (const list of [library, appServer]) for (const [i, r] of list.entries()) rows.push(turnRow(r, `${r.system} #${i + 1}`));
    const ratio = (pick: (r: TurnResult) => number) => num(medianOf(appServer, pick) / medianOf(library, pick));
    ratios.push([
      String(n),
      ratio((r) => r.wallMs),
      ratio((r) => r.spawnMs),
      ratio((r) => summarize(r.latencies).p50),
      ratio((r) => r.cpuSelf + r.cpuChildren),
      ratio((r) => r.peakRss),
    ]);
  }
} finally {
  server.close();
}
printTable(`turns, llmx library vs llmx app-server over stdio (${runs} runs each, interleaved)`, TURN_HEADER, rows);
printTable("app-server / library (medians of runs; 1 = no protocol cost)", ["N", "wall", "spawn", "turn p50", "CPU s", "peak RSS"], ratios);

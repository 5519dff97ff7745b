// Rollouts: append throughput of RolloutRecorder (one awaited write per line, and batches), the time to resume
// a 100,000-line rollout (readRolloutHistory) and to fork it (the same read plus truncateBeforeNthUserMessage).
// Usage: tsx bench/rollouts.ts [--quick] [--lines N] [--runs N]
import "./lib/launch.js";
import { statSync } from "node:fs";
import path from "node:path";
import { RolloutRecorder, readRolloutHistory, systemClock, truncateBeforeNthUserMessage, type RolloutItem, type SessionMeta } from "../src/index.js";
import { tempDir } from "./lib/home.js";
import { benchArgs, mib, ms, num, perSecond, printMachine, printTable, summarize } from "./lib/stats.js";

const args = benchArgs(["lines"]);
const lines = Number(args.get("lines") ?? (args.quick ? 2_000 : 100_000));
const runs = args.runs(args.quick ? 1 : 5);
const clock = systemClock;
const dir = tempDir("rollouts");
let files = 0;

const meta = (id: string): SessionMeta => ({ id, timestamp: new Date().toISOString(), cwd: dir, originator: "llmx_bench", cli_version: "0.0.0", source: "exec" });

/** The i-th item of a plausible conversation: user message, function call, its output, assistant answer. */
function item(i: number): RolloutItem {
  const turn = Math.floor(i / 4);
  switch (i % 4) {
    case 0:
      return { type: "response_item", payload: { type: "message", role: "user", content: [{ type: "input_text", text: `question ${turn}: please run the tests and tell me what failed` }] } };
    case 1:
      return { type: "response_item", payload: { type: "function_call", name: "shell", arguments: JSON.stringify({ command: ["bash", "-lc", "npm test"] }), call_id: `call_${turn}` } };
    case 2:
      return { type: "response_item", payload: { type: "function_call_output", call_id: `call_${turn}`, output: `{"output":"${"ok ".repeat(30)}","metadata":{"exit_code":0}}` } };
    default:
      return { type: "response_item", payload: { type: "message", role: "assistant", content: [{ type: "output_text", text: `All ${turn} tests passed; nothing failed this time.` }] } };
  }
}

const uuid = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, "0")}`;

/** Lines per second writing `count` items, `batch` items per awaited write. */
async function append(count: number, batch: number): Promise<number> {
  const file = path.join(dir, `append-${files++}.jsonl`);
  const recorder = await RolloutRecorder.create({ path: file, meta: meta(uuid(files)), clock });
  const start = performance.now();
  for (let i = 0; i < count; i += batch) {
    await recorder.write(Array.from({ length: Math.min(batch, count - i) }, (_, k) => item(i + k)));
  }
  await recorder.close();
  return count / ((performance.now() - start) / 1000);
}

printMachine("rollouts");
const appendRows: string[][] = [];
for (const batch of [1, 64]) {
  const count = args.quick ? 1_000 : batch === 1 ? 20_000 : 100_000;
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) samples.push(await append(count, batch));
  const rates = summarize(samples);
  appendRows.push([`${batch} item${batch > 1 ? "s" : ""} per write`, String(count), perSecond(rates.median), `${perSecond(rates.min)}..${perSecond(rates.max)}`]);
}
printTable(`rollouts: RolloutRecorder append (median of ${runs})`, ["writes", "lines", "lines/s", "min..max"], appendRows);

// One file of `lines` lines (session_meta + items), written in large batches.
const big = path.join(dir, "big.jsonl");
const recorder = await RolloutRecorder.create({ path: big, meta: meta(uuid(0)), clock });
for (let i = 0; i < lines - 1; i += 1_000) {
  await recorder.write(Array.from({ length: Math.min(1_000, lines - 1 - i) }, (_, k) => item(i + k)));
}
await recorder.close();

const resume: number[] = [];
const fork: number[] = [];
let items = 0;
for (let r = 0; r < runs; r++) {
  let t0 = performance.now();
  const history = await readRolloutHistory(big);
  resume.push(performance.now() - t0);
  items = history.items.length;
  t0 = performance.now();
  const forked = truncateBeforeNthUserMessage((await readRolloutHistory(big)).items, Math.floor(lines / 8));
  fork.push(performance.now() - t0);
  if (forked.type !== "forked") throw new Error("fork point not found");
}
const r = summarize(resume);
const f = summarize(fork);
printTable(
  `rollouts: ${num(lines)}-line rollout (${mib(statSync(big).size)}, ${items} items), median of ${runs}`,
  ["operation", "median", "min..max", "lines/s"],
  [
    ["resume (readRolloutHistory)", ms(r.median), `${num(r.min)}..${num(r.max)} ms`, perSecond(lines / (r.median / 1000))],
    ["fork (read + truncateBeforeNthUserMessage, cut mid-file)", ms(f.median), `${num(f.min)}..${num(f.max)} ms`, perSecond(lines / (f.median / 1000))],
  ],
);

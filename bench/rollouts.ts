// Rollouts: append throughput of RolloutRecorder (one awaited write per line, and batches), the time to resume
// a 100,000-line rollout (readRolloutHistory) and to fork it (the same read plus truncateBeforeNthUserMessage),
// and the resume of a rollout whose last line is 5, 20 or 100 MiB (issue #11).
// Usage: tsx bench/rollouts.ts [--quick] [--lines N] [--runs N]
import "./lib/launch.js";
import { rmSync, statSync } from "node:fs";
import path from "node:path";
import {
  ConversationManager,
  RolloutRecorder,
  createConfig,
  readRolloutHistory,
  rolloutPathFor,
  systemClock,
  truncateBeforeNthUserMessage,
  type RolloutItem,
  type SessionMeta,
} from "../src/index.js";
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

// Resume of a rollout whose last line is huge (a large tool output, say): RolloutRecorder.resume looks for the
// last complete line backwards from the end, readRolloutHistory decodes the file, and the manager's resume does
// both (the history read here, the recorder in the new worker) up to the worker's session_configured.
const manager = new ConversationManager({ minThreads: 1 });
const tailRows: string[][] = [];
for (const sizeMb of args.quick ? [5] : [5, 20, 100]) {
  const id = uuid(1_000 + sizeMb);
  const file = rolloutPathFor(dir, id, new Date());
  const writeFile = async (): Promise<void> => {
    rmSync(file, { force: true });
    const writer = await RolloutRecorder.create({ path: file, meta: meta(id), clock });
    const output = "x".repeat(sizeMb * 1024 * 1024);
    await writer.write([item(0), { type: "response_item", payload: { type: "function_call_output", call_id: "call_big", output } }]);
    await writer.close();
  };
  await writeFile();
  const reopen: number[] = [];
  const read: number[] = [];
  const resumed: number[] = [];
  for (let r = 0; r < runs; r++) {
    let t0 = performance.now();
    await (await RolloutRecorder.resume({ path: file, clock })).close();
    reopen.push(performance.now() - t0);
    t0 = performance.now();
    await readRolloutHistory(file);
    read.push(performance.now() - t0);
    t0 = performance.now();
    const { conversation } = await manager.resumeConversationFromRollout(createConfig({ home: dir, cwd: dir }), file);
    resumed.push(performance.now() - t0);
    await conversation.shutdown();
    await writeFile();
  }
  const [a, b, c] = [summarize(reopen), summarize(read), summarize(resumed)];
  const cell = (s: typeof a) => `${ms(s.median)} (${num(s.min)}..${num(s.max)})`;
  tailRows.push([`${sizeMb} MiB`, mib(statSync(file).size), cell(a), cell(b), cell(c)]);
}
await manager.shutdown();
printTable(
  `rollouts: resume of a rollout whose last line is large, median (min..max ms) of ${runs}`,
  ["last line", "file", "RolloutRecorder.resume", "readRolloutHistory", "manager resume to session_configured"],
  tailRows,
);

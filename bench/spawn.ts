// Spawn: newConversation until its session_configured, with a warm pool (threads started and their modules
// loaded before the clock starts) and a cold one (every conversation starts a thread), one after another and
// 100 at once, and one after another with each ended before the next (threads taken again and again, as in a
// long-lived host; the wall then includes the shutdowns). First, the start cost of one conversation per thread
// against the floor, in the same run: a bare worker thread answering "ready" beside a cold conversation start
// (fresh manager, fresh thread), their ratio, RSS per idle conversation, and CPU seconds per conversation
// (spawn + one shell-tool turn, mock model).
// Usage: tsx bench/spawn.ts [--quick] [--runs N] [--only start] [--limits young,old,code,stack]
import "./lib/launch.js";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { Worker, type ResourceLimits } from "node:worker_threads";
import { ConversationManager, createConfig, type Conversation } from "../src/index.js";
import { bareThreadRss } from "./lib/bare-threads.js";
import { tempDir } from "./lib/home.js";
import { startModelServerProcess } from "./lib/model-server.js";
import { mockTurnConfig } from "./lib/turn-result.js";
import { currentRss } from "./lib/proc.js";
import { benchArgs, mib, ms, num, printMachine, printTable, settle, summarize } from "./lib/stats.js";

const args = benchArgs(["only", "limits"]);
const sequential = args.quick ? 2 : 30;
const burst = args.quick ? 4 : 100;
const runs = args.runs(args.quick ? 1 : 3);
const home = tempDir("spawn");
const config = createConfig({ home, cwd: home });

type Sample = { latencies: number[]; wall: number; failures: string[] };

async function measure(manager: ConversationManager, count: number, atOnce: boolean, endEach = false): Promise<Sample> {
  const start = performance.now();
  const latencies: number[] = [];
  const failures: string[] = [];
  const one = async () => {
    const t0 = atOnce ? start : performance.now();
    try {
      const { conversation } = await manager.newConversation(config);
      latencies.push(performance.now() - t0);
      // Its thread goes back to the pool, and the next conversation may take it.
      if (endEach) await conversation.shutdown();
    } catch (error) {
      failures.push(String((error as { firstEvent?: { msg?: { message?: string } } }).firstEvent?.msg?.message ?? error).split("\n")[0] as string);
    }
  };
  if (atOnce) await Promise.all(Array.from({ length: count }, one));
  else for (let i = 0; i < count; i++) await one();
  return { latencies, wall: performance.now() - start, failures };
}

/**
 * Runs `count` conversations once and ends them, so `count` threads are up with the worker module loaded. A
 * conversation that fails to start here (its thread starved while all start at once) is reported, not fatal.
 */
async function warmUp(manager: ConversationManager, count: number): Promise<void> {
  const started = await Promise.allSettled(Array.from({ length: count }, () => manager.newConversation(config)));
  const failed = started.flatMap((result) => (result.status === "rejected" ? [String(result.reason).split("\n")[0]] : []));
  for (const reason of new Set(failed)) console.log(`FAILED warm-up spawn: ${reason}`);
  await Promise.all(started.flatMap((result) => (result.status === "fulfilled" ? [result.value.conversation.shutdown()] : [])));
}

/** `endEach`: each conversation ends before the next starts, so threads are taken again and again (a long-lived host). */
type Scenario = { name: string; count: number; atOnce: boolean; warm: boolean; perThread?: number; endEach?: boolean };
const scenarios: Scenario[] = [
  { name: "warm pool, sequential", count: sequential, atOnce: false, warm: true },
  { name: "warm pool, sequential, each ended first", count: sequential * 10, atOnce: false, warm: true, endEach: true },
  { name: "cold pool, sequential", count: sequential, atOnce: false, warm: false },
  { name: `warm pool, ${burst} at once`, count: burst, atOnce: true, warm: true },
  { name: `cold pool, ${burst} at once`, count: burst, atOnce: true, warm: false },
  { name: `dense (${burst}/thread, warm), ${burst} at once`, count: burst, atOnce: true, warm: true, perThread: burst },
];

/** `--limits 4,16,0,2`: young, old, code range, stack (MB; 0 leaves one at Node's default). */
function limitsArg(): ResourceLimits | undefined {
  const spec = args.get("limits");
  if (spec === undefined) return undefined;
  const [young, old, code, stack] = spec.split(",").map(Number);
  const limits: ResourceLimits = {};
  if (young) limits.maxYoungGenerationSizeMb = young;
  if (old) limits.maxOldGenerationSizeMb = old;
  if (code) limits.codeRangeSizeMb = code;
  if (stack) limits.stackSizeMb = stack;
  return limits;
}
const resourceLimits = limitsArg();
const withLimits = resourceLimits ? { resourceLimits } : {};

const bareWorkerFile = path.join(home, "bare.worker.cjs");
writeFileSync(bareWorkerFile, `require("node:worker_threads").parentPort.postMessage("ready");\n`);

/** The floor: a thread that does nothing but say it runs. Time from `new Worker` to its message. */
function bareWorkerStart(): Promise<number> {
  const t0 = performance.now();
  const worker = new Worker(bareWorkerFile, withLimits);
  return new Promise((resolve, reject) => {
    worker.once("error", reject);
    worker.once("message", () => {
      const elapsed = performance.now() - t0;
      void worker.terminate().then(() => resolve(elapsed));
    });
  });
}

/** A cold conversation: a fresh manager with no thread started, newConversation until session_configured. */
async function coldConversationStart(): Promise<number> {
  const manager = new ConversationManager({ maxConversations: 1, minThreads: 0, ...withLimits });
  try {
    const t0 = performance.now();
    await manager.newConversation(config);
    return performance.now() - t0;
  } finally {
    await manager.shutdown();
  }
}

/** Bare worker and cold conversation starts, alternated so both see the same load. */
async function startCost(samples: number): Promise<{ bare: number; cold: number }> {
  const bare: number[] = [];
  const cold: number[] = [];
  await bareWorkerStart(); // first-thread costs of the process itself
  for (let i = 0; i < samples; i++) {
    bare.push(await bareWorkerStart());
    cold.push(await coldConversationStart());
  }
  return { bare: summarize(bare).median, cold: summarize(cold).median };
}

/** N idle conversations, each in its own thread: process RSS delta / N. */
async function idleRss(n: number): Promise<number> {
  const manager = new ConversationManager({ maxConversations: n, minThreads: 0, ...withLimits });
  await settle();
  const before = currentRss();
  for (let i = 0; i < n; i++) await manager.newConversation(config);
  await settle(1_000);
  const after = currentRss();
  await manager.shutdown();
  return (after - before) / n;
}

async function turn(conversation: Conversation): Promise<boolean> {
  const id = await conversation.submit({ type: "user_input", items: [{ type: "text", text: "RUNSHELL: echo hi" }] });
  for (;;) {
    const { id: eventId, msg } = await conversation.nextEvent();
    if (eventId === id && (msg.type === "task_complete" || msg.type === "turn_aborted")) return msg.type === "task_complete";
  }
}

/** CPU seconds of the whole process (all threads) per conversation: spawn + one shell-tool turn, each on a new thread. */
async function cpuPerConversation(n: number, url: string): Promise<{ cpu: number; ok: number }> {
  const turnConfig = mockTurnConfig(home, url);
  const manager = new ConversationManager({ maxConversations: n, minThreads: 0, ...withLimits });
  await settle();
  const before = process.cpuUsage();
  let ok = 0;
  // Earlier conversations stay open, so every one starts its own thread.
  for (let i = 0; i < n; i++) {
    const { conversation } = await manager.newConversation(turnConfig);
    if (await turn(conversation)) ok++;
  }
  const used = process.cpuUsage(before);
  await manager.shutdown();
  return { cpu: (used.user + used.system) / 1e6 / n, ok };
}

async function startCostTable(): Promise<void> {
  const samples = args.quick ? 3 : 7;
  const idle = args.quick ? 4 : 20;
  const turns = args.quick ? 3 : 10;
  const server = await startModelServerProcess();
  const rows: string[][] = [];
  try {
    for (let run = 0; run < runs; run++) {
      const { bare, cold } = await startCost(samples);
      const rss = await idleRss(idle);
      const bareRss = await bareThreadRss(idle, resourceLimits);
      const { cpu, ok } = await cpuPerConversation(turns, server.url);
      rows.push([String(run + 1), ms(bare), ms(cold), `${num(cold / bare)}x`, mib(bareRss), mib(rss), `${num(cpu)} s (${ok}/${turns} ok)`]);
    }
  } finally {
    server.close();
  }
  printTable(
    `start cost, one conversation per thread (median of ${samples} cold starts; RSS over ${idle} idle; CPU over ${turns} spawn+turn)` +
      (resourceLimits ? `, resourceLimits ${JSON.stringify(resourceLimits)}` : ""),
    ["run", "bare worker", "cold conversation", "ratio", "RSS / bare worker", "RSS / idle conversation", "CPU / conversation"],
    rows,
  );
}

printMachine("spawn");
await startCostTable();
if (args.get("only") !== "start") await scenariosTable();

async function scenariosTable(): Promise<void> {
  const rows: string[][] = [];
  for (const scenario of scenarios) {
    const latencies: number[] = [];
    const walls: number[] = [];
    const failures: string[] = [];
    for (let run = 0; run < runs; run++) {
      const perThread = scenario.perThread ?? 1;
      const threads = Math.ceil(scenario.count / perThread);
      const manager = new ConversationManager({
        maxConversations: scenario.count,
        conversationsPerThread: perThread,
        // The warm-up leaves `threads` idle threads; two more spares are kept beyond those a burst takes.
        minThreads: scenario.warm ? Math.min(threads, 2) : 0,
        ...withLimits,
      });
      // Ended one by one, conversations need no more threads than the spares.
      if (scenario.warm) await warmUp(manager, scenario.endEach ? 2 : scenario.count);
      const sample = await measure(manager, scenario.count, scenario.atOnce, scenario.endEach);
      latencies.push(...sample.latencies);
      walls.push(sample.wall);
      failures.push(...sample.failures);
      await manager.shutdown();
    }
    const s = summarize(latencies);
    rows.push([scenario.name, String(s.n), ms(s.p50), ms(s.p99), `${num(s.min)}..${num(s.max)} ms`, ms(summarize(walls).median), String(failures.length)]);
    for (const failure of new Set(failures)) console.log(`FAILED spawn (${scenario.name}): ${failure}`);
  }
  printTable(`spawn: newConversation -> session_configured (${runs} runs pooled)`, ["scenario", "n", "p50", "p99", "min..max", "wall (median run)", "failed"], rows);
}

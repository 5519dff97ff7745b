// Spawn: newConversation until its session_configured, with a warm pool (threads started and their modules
// loaded before the clock starts) and a cold one (every conversation starts a thread), one after another and
// 100 at once. Usage: tsx bench/spawn.ts [--quick] [--runs N]
import "./lib/launch.js";
import { ConversationManager, createConfig } from "../src/index.js";
import { tempDir } from "./lib/home.js";
import { benchArgs, ms, num, printMachine, printTable, summarize } from "./lib/stats.js";

const args = benchArgs();
const sequential = args.quick ? 2 : 30;
const burst = args.quick ? 4 : 100;
const runs = args.runs(args.quick ? 1 : 3);
const home = tempDir("spawn");
const config = createConfig({ home, cwd: home });

type Sample = { latencies: number[]; wall: number; failures: string[] };

async function measure(manager: ConversationManager, count: number, atOnce: boolean): Promise<Sample> {
  const start = performance.now();
  const latencies: number[] = [];
  const failures: string[] = [];
  const one = async () => {
    const t0 = atOnce ? start : performance.now();
    try {
      await manager.newConversation(config);
      latencies.push(performance.now() - t0);
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

type Scenario = { name: string; count: number; atOnce: boolean; warm: boolean; perThread?: number };
const scenarios: Scenario[] = [
  { name: "warm pool, sequential", count: sequential, atOnce: false, warm: true },
  { name: "cold pool, sequential", count: sequential, atOnce: false, warm: false },
  { name: `warm pool, ${burst} at once`, count: burst, atOnce: true, warm: true },
  { name: `cold pool, ${burst} at once`, count: burst, atOnce: true, warm: false },
  { name: `dense (${burst}/thread, warm), ${burst} at once`, count: burst, atOnce: true, warm: true, perThread: burst },
];

printMachine("spawn");
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
      minThreads: scenario.warm ? threads : 0,
    });
    if (scenario.warm) await warmUp(manager, scenario.count);
    const sample = await measure(manager, scenario.count, scenario.atOnce);
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

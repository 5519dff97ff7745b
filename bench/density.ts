// Density: resident memory per live idle conversation, one conversation per thread and dense (several per
// thread). Each case runs in a fresh process so freed memory from an earlier case cannot flatter a later one:
// RSS after spawning N idle conversations minus RSS before, divided by N.
// Usage: tsx bench/density.ts [--quick] [--cases thread:100,thread:1000,dense:100,dense:1000] [--per-thread 100]
import "./lib/launch.js";
import { ConversationManager, createConfig } from "../src/index.js";
import { tempDir } from "./lib/home.js";
import { runScript } from "./lib/launch.js";
import { currentRss } from "./lib/proc.js";
import { benchArgs, mib, ms, num, printMachine, printTable, settle } from "./lib/stats.js";

const args = benchArgs(["cases", "case", "per-thread"]);
const perThreadDense = Number(args.get("per-thread") ?? (args.quick ? 2 : 100));
const BATCH = 25;

type Result = { mode: string; n: number; threads: number; perConversation: number; total: number; spawnMs: number };

async function measureCase(mode: string, n: number): Promise<Result> {
  const perThread = mode === "dense" ? perThreadDense : 1;
  const home = tempDir("density");
  const manager = new ConversationManager({ maxConversations: n, conversationsPerThread: perThread, minThreads: 0 });
  await settle(500);
  const before = currentRss();
  const start = performance.now();
  for (let done = 0; done < n; done += BATCH) {
    const batch = Math.min(BATCH, n - done);
    await Promise.all(Array.from({ length: batch }, () => manager.newConversation(createConfig({ home, cwd: home }))));
  }
  const spawnMs = performance.now() - start;
  await settle(2_000);
  const total = currentRss() - before;
  await manager.shutdown({ timeoutMs: 30_000 });
  return { mode, n, threads: Math.ceil(n / perThread), perConversation: total / n, total, spawnMs };
}

const single = args.get("case");
if (single !== undefined) {
  const [mode, n] = single.split(":");
  console.log(JSON.stringify(await measureCase(mode ?? "thread", Number(n))));
} else {
  printMachine("density");
  const cases = (args.get("cases") ?? (args.quick ? "thread:2,dense:4" : "thread:100,thread:1000,dense:100,dense:1000")).split(",");
  const rows: string[][] = [];
  for (const c of cases) {
    let r: Result;
    try {
      const out = await runScript(process.argv[1] as string, ["--case", c, "--per-thread", String(perThreadDense)]);
      r = JSON.parse(out.trim().split("\n").at(-1) as string) as Result;
    } catch (error) {
      // A crashed case is a finding, not a reason to lose the other cases: record it in the table.
      rows.push([c, "-", "-", "FAILED", (error as Error).message.split("\n")[0] ?? "", "-", "-"]);
      continue;
    }
    const mode = r.mode === "dense" ? `dense, ${perThreadDense}/thread` : "one per thread";
    rows.push([mode, String(r.n), String(r.threads), mib(r.perConversation), mib(r.total), ms(r.spawnMs), `${num(r.n / (r.spawnMs / 1000))}/s`]);
  }
  printTable("density: RSS per live idle conversation", ["mode", "conversations", "threads", "RSS / conversation", "RSS total", "spawn all", "spawn rate"], rows);
}

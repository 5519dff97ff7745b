// Start gate: N conversations started at once, with admission limits from 1 per core to unlimited.
// Usage: tsx bench/start-gate.ts [--quick] [--n 100] [--limits 1,2,4,8,1000]
import "./lib/launch.js";
import { ConversationManager, createConfig } from "../src/index.js";
import { tempDir } from "./lib/home.js";
import { benchArgs, printMachine } from "./lib/stats.js";

const args = benchArgs(["n", "limits"]);
const n = Number(args.get("n") ?? (args.quick ? 10 : 100));
const limits = (args.get("limits") ?? "2,4,8,1000").split(",").map(Number);
const home = tempDir("gate");
const config = createConfig({ home, cwd: home });
printMachine("start-gate");
for (const limit of limits) {
  const manager = new ConversationManager({ maxConversations: n, maxConcurrentStarts: limit, minThreads: 0 });
  const t0 = performance.now();
  const done: number[] = [];
  const results = await Promise.allSettled(
    Array.from({ length: n }, () => manager.newConversation(config).then((c) => (done.push(performance.now() - t0), c))),
  );
  const wall = performance.now() - t0;
  done.sort((a, b) => a - b);
  const failed = results.filter((r) => r.status === "rejected").length;
  console.log(`limit ${limit}: wall ${wall.toFixed(0)} ms, first ${done[0]?.toFixed(0)} ms, p50 ${done[Math.floor(done.length / 2)]?.toFixed(0)} ms, failed ${failed}`);
  await manager.shutdown();
}

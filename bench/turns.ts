// Turns: N conversations each run one turn with one shell tool call (`RUNSHELL: echo hi`, approval policy
// never) against the local mock model over HTTP. Each case runs in a fresh process with an empty HOME (a login
// shell that sources a heavy ~/.bashrc would otherwise dominate every tool call); the mock model runs in its own
// process. Usage: tsx bench/turns.ts [--quick] [--cases 10,100,1000:dense] [--per-thread 100]
import "./lib/launch.js";
import { ConversationManager, type Conversation } from "../src/index.js";
import { tempDir } from "./lib/home.js";
import { startModelServerProcess } from "./lib/model-server.js";
import { currentRss } from "./lib/proc.js";
import { benchArgs, printMachine, printTable, settle } from "./lib/stats.js";
import { TURN_HEADER, measureProcess, mockTurnConfig, runTurnCase, turnRow, type TurnResult } from "./lib/turn-result.js";

const args = benchArgs(["cases", "case", "url", "per-thread"]);
const perThreadDense = Number(args.get("per-thread") ?? (args.quick ? 2 : 100));
const PROMPT = "RUNSHELL: echo hi";

const failures = new Map<string, number>();

/** One turn; resolves whether the command ran and its output came back in the answer (else notes why not). */
async function turn(conversation: Conversation): Promise<boolean> {
  const id = await conversation.submit({ type: "user_input", items: [{ type: "text", text: PROMPT }] });
  let ran = false;
  let why = "";
  for (;;) {
    const { id: eventId, msg } = await conversation.nextEvent();
    if (msg.type === "exec_command_end") ran = msg.exit_code === 0;
    if (msg.type === "exec_command_end" && !ran) why ||= `exit ${msg.exit_code}: ${msg.stderr.slice(0, 120)}`;
    if (msg.type === "error" || msg.type === "stream_error") why ||= `${msg.type}: ${msg.message.slice(0, 160)}`;
    if (eventId === id && (msg.type === "task_complete" || msg.type === "turn_aborted")) {
      const ok = msg.type === "task_complete" && ran && msg.last_agent_message === "Tool said: hi";
      if (!ok) failures.set(why || msg.type, (failures.get(why || msg.type) ?? 0) + 1);
      return ok;
    }
  }
}

async function runCase(n: number, dense: boolean, url: string): Promise<TurnResult> {
  const perThread = dense ? perThreadDense : 1;
  const home = tempDir("turns");
  const config = mockTurnConfig(home, url);
  const manager = new ConversationManager({ maxConversations: n, conversationsPerThread: perThread });
  await settle();
  const baselineRss = currentRss();
  const finish = measureProcess();
  const start = performance.now();
  let started = 0;
  const latencies: number[] = [];
  // Progress on stderr every 10 s, so a slow run can be told from a stalled one.
  const progress = setInterval(() => {
    const s = ((performance.now() - start) / 1000).toFixed(0);
    console.error(`  [${n}${dense ? " dense" : ""} +${s}s] started ${started}/${n}, turns done ${latencies.length}, rss ${(currentRss() / 2 ** 20).toFixed(0)} MiB`);
  }, 10_000);
  // A conversation that fails to start (killed as hung on a loaded box, say) is a failed turn, not a crash.
  const outcomes = await Promise.allSettled(
    Array.from({ length: n }, () => manager.newConversation(config).then((c) => (started++, c))),
  );
  const conversations = outcomes.flatMap((outcome) => {
    if (outcome.status === "fulfilled") return [outcome.value];
    const message = String((outcome.reason as Error)?.message ?? outcome.reason).replace(/conversation [0-9a-f-]{36} /, "");
    const why = `start: ${message.slice(0, 120)}`;
    failures.set(why, (failures.get(why) ?? 0) + 1);
    return [];
  });
  const spawned = performance.now();
  const oks = await Promise.all(
    conversations.map(async ({ conversation }) => {
      const t0 = performance.now();
      const ok = await turn(conversation);
      latencies.push(performance.now() - t0);
      return ok;
    }),
  );
  const end = performance.now();
  clearInterval(progress);
  const result = finish({
    system: dense ? `llmx dense (${perThread}/thread)` : "llmx",
    n,
    ok: oks.filter(Boolean).length,
    wallMs: end - start,
    spawnMs: spawned - start,
    turnsMs: end - spawned,
    latencies,
    baselineRss,
  });
  await manager.shutdown({ timeoutMs: 30_000 });
  for (const [why, count] of failures) console.error(`turns ${n}${dense ? " dense" : ""}: ${count} turn(s) failed: ${why}`);
  return result;
}

const single = args.get("case");
if (single !== undefined) {
  const [n, mode] = single.split(":");
  console.log(JSON.stringify(await runCase(Number(n), mode === "dense", args.get("url") as string)));
} else {
  printMachine("turns");
  const server = await startModelServerProcess();
  try {
    const cases = (args.get("cases") ?? (args.quick ? "2,4:dense" : "10,100,1000:dense")).split(",");
    const rows: string[][] = [];
    for (const spec of cases) rows.push(turnRow(await runTurnCase(spec, server.url, perThreadDense)));
    printTable("turns: N conversations x one turn with one shell call (mock model over HTTP)", TURN_HEADER, rows);
  } finally {
    server.close();
  }
}

// Slow reader: one conversation runs a command that prints a lot (500 MB by default) under danger-full-access,
// and its client stops reading for a while (40 s by default) as soon as the output starts, then reads to the
// end. Reports the host process's peak RSS (sampled, and the kernel's high-water mark), its thread count, how
// many events the supervisor held at most, and whether the turn completed with the command's output.
// Usage: tsx bench/slow-reader.ts [--quick] [--bytes 500000000] [--pause-ms 40000] [--window 256]
import "./lib/launch.js";
import { ConversationManager, createConfig } from "../src/index.js";
import { tempDir } from "./lib/home.js";
import { startModelServerProcess } from "./lib/model-server.js";
import { currentRss, peakRss, threadCount } from "./lib/proc.js";
import { benchArgs, mib, ms, printMachine, printTable, settle } from "./lib/stats.js";

const args = benchArgs(["bytes", "pause-ms", "window"]);
const bytes = Number(args.get("bytes") ?? (args.quick ? 50_000_000 : 500_000_000));
const pauseMs = Number(args.get("pause-ms") ?? (args.quick ? 3_000 : 40_000));
const window = args.get("window") === undefined ? undefined : Number(args.get("window"));
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

printMachine("slow-reader");
const server = await startModelServerProcess();
const home = tempDir("slow-reader");
const manager = new ConversationManager({ maxConversations: 1, ...(window === undefined ? {} : { eventWindow: window }) });
try {
  const config = createConfig({
    home,
    cwd: home,
    model: "mock-model",
    modelProvider: "mock",
    provider: { id: "mock", name: "Mock", baseUrl: server.url, wireApi: "responses", requestMaxRetries: 2, streamMaxRetries: 2, streamIdleTimeoutMs: 600_000 },
    approvalPolicy: "never",
    sandboxPolicy: { mode: "danger-full-access" },
  });
  const { conversation } = await manager.newConversation(config);
  await settle();
  const baseline = currentRss();
  let peak = baseline;
  let peakThreads = threadCount();
  let peakBuffered = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
    peakThreads = Math.max(peakThreads, threadCount());
    peakBuffered = Math.max(peakBuffered, conversation.bufferedEvents);
  }, 50);

  const started = performance.now();
  const turnId = await conversation.submit({
    type: "user_input",
    items: [{ type: "text", text: `RUNSHELL: head -c ${bytes} /dev/zero | tr '\\0' a` }],
  });
  let paused = false;
  let exitCode: number | undefined;
  let aggregated = 0;
  let streamed = 0;
  let deltas = 0;
  let completed = false;
  let answer: string | null = null;
  for await (const event of conversation.events()) {
    const msg = event.msg;
    if (msg.type === "exec_command_output_delta") {
      deltas += 1;
      streamed += Buffer.byteLength(msg.chunk, "base64");
      if (!paused) {
        paused = true;
        await sleep(pauseMs);
      }
    }
    if (msg.type === "exec_command_end") {
      exitCode = msg.exit_code;
      aggregated = msg.aggregated_output?.length ?? 0;
    }
    if (event.id === turnId && (msg.type === "task_complete" || msg.type === "turn_aborted")) {
      completed = msg.type === "task_complete";
      answer = msg.type === "task_complete" ? msg.last_agent_message : null;
      break;
    }
  }
  const wall = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const ok = completed && exitCode === 0 && answer?.startsWith("Tool said: ") === true;
  printTable(
    `slow-reader: a command prints ${mib(bytes)}; the client pauses ${ms(pauseMs)} mid-turn, then reads to the end`,
    ["window", "turn", "exit", "wall", "deltas read", "delta bytes read", "aggregated_output", "peak buffered events", "RSS before", "peak RSS (sampled)", "VmHWM", "peak threads"],
    [
      [
        String(conversation.eventWindow),
        ok ? "completed" : `NOT completed (${completed ? "task_complete" : "aborted"}, exit ${String(exitCode)})`,
        String(exitCode),
        ms(wall),
        String(deltas),
        mib(streamed),
        mib(aggregated),
        String(peakBuffered),
        mib(baseline),
        mib(peak),
        mib(peakRss()),
        String(peakThreads),
      ],
    ],
  );
  if (!ok) process.exitCode = 1;
} finally {
  await manager.shutdown({ timeoutMs: 30_000 });
  server.close();
}

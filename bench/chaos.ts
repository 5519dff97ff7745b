// Chaos: N conversations run turns back to back for a bounded time while faults are injected at random into
// random conversations, through the bench's own model provider (bench/lib/chaos-model.mjs, loaded in each
// worker): a prompt carrying `FAULT:exit|throw|oom|hang` makes the worker exit, throw, run out of its heap
// (resourceLimits) or spin until the heartbeat watchdog kills it. The supervisor restarts each crashed
// conversation from its rollout; the script counts what happened and then checks what must hold: every
// rollout line parses, and every prompt the session took (its turn produced task_started) is in its rollout.
// Every wait is bounded. Usage: tsx bench/chaos.ts [--quick] [--conversations 50] [--seconds 30]
//   [--fault-rate 0.05] [--seed N] [--per-thread 1] [--hang-timeout 1000] [--spawn-batch 2] [--think-ms 0]
//   [--require-esm off]
import "./lib/launch.js";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, readdir, stat } from "node:fs/promises";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConversationManager, WorkerCrashedError, createConfig, type Conversation, type Event } from "../src/index.js";
import { tempDir } from "./lib/home.js";
import { nodeArgsFor } from "./lib/launch.js";
import { currentRss, peakRss, threadCount } from "./lib/proc.js";
import { benchArgs, mib, ms, num, printMachine, printTable, settle, summarize } from "./lib/stats.js";

const args = benchArgs([
  "conversations",
  "seconds",
  "fault-rate",
  "seed",
  "per-thread",
  "hang-timeout",
  "spawn-batch",
  "think-ms",
  "require-esm",
  "child",
]);
const CONVERSATIONS = Number(args.get("conversations") ?? (args.quick ? 4 : 50));
const SECONDS = Number(args.get("seconds") ?? (args.quick ? 3 : 30));
/** The chance that a turn's prompt is a fault. */
const FAULT_RATE = Number(args.get("fault-rate") ?? (args.quick ? 0.3 : 0.05));
const SEED = Number(args.get("seed") ?? Math.floor(Math.random() * 2 ** 31));
const PER_THREAD = Number(args.get("per-thread") ?? 1);
const HANG_TIMEOUT_MS = Number(args.get("hang-timeout") ?? 1_000);
/**
 * Conversations spawned at once. The hang timeout covers a worker's start too, and ten cold starts at once on
 * two busy cores take longer than a second: they would be killed as hung (and fail, never having started).
 */
const SPAWN_BATCH = Number(args.get("spawn-batch") ?? 2);
/** A pause between one conversation's turns (0: back to back, which keeps every core busy). */
const THINK_MS = Number(args.get("think-ms") ?? 0);

const MODEL = fileURLToPath(new URL("./lib/chaos-model.mjs", import.meta.url));
const FAULTS = ["exit", "throw", "oom", "hang"] as const;
type Fault = (typeof FAULTS)[number];
/** The exit reason a restart after each fault should carry. */
const REASON: Record<Fault, string> = { exit: "exited", throw: "threw", oom: "out_of_memory", hang: "hung" };

/** A turn gets this long from submit to its end; past it, it is counted stuck and its conversation left alone. */
const TURN_TIMEOUT_MS = 30_000;
/**
 * A prompt cut off by a crash before its task_started reached us may still start on the next worker (one the old
 * worker never took is re-sent): it gets this long after the restart before it is counted dropped. A late start
 * shows up as a stray event.
 */
const RESTART_GRACE_MS = args.quick ? 3_000 : 10_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;
/** Past the shutdown's own deadline, how long before the script stops waiting for it. */
const SHUTDOWN_GRACE_MS = 20_000;

type Outcome = "completed" | "wrong answer" | "crashed" | "aborted" | "dropped" | "stuck" | "conversation ended" | "submit failed";

/** Resolves with `promise`, or with undefined once `ms` have passed (a timer that keeps the process alive). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** mulberry32: a small seeded generator, so a run's choices can be replayed with --seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

class Turn {
  started = false;
  error: string | undefined;
  outcome: Outcome | undefined;
  readonly submittedAt = performance.now();
  endedAt = 0;
  readonly done: Promise<Outcome>;
  private resolve!: (outcome: Outcome) => void;
  private grace: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly text: string,
    readonly fault: Fault | undefined,
  ) {
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  settle(outcome: Outcome): void {
    if (this.outcome !== undefined) return;
    clearTimeout(this.grace);
    this.outcome = outcome;
    this.endedAt = performance.now();
    this.resolve(outcome);
  }

  /** Its worker died before the session took it: it is dropped unless the next worker starts it in time. */
  cutBeforeStart(): void {
    if (this.grace === undefined && this.outcome === undefined) this.grace = setTimeout(() => this.settle("dropped"), RESTART_GRACE_MS);
  }
}

/** Counts shared by every conversation's driver. */
const totals = {
  injected: new Map<Fault, number>(),
  /** Fault prompts the session took (task_started): the fault really fired in a worker. */
  took: new Map<Fault, number>(),
  restartsByReason: new Map<string, number>(),
  outcomes: new Map<string, number>(),
  /** Events whose id names no turn of ours, or a turn that had already ended. */
  strayEvents: 0,
  samples: [] as string[],
};
const bump = <K>(map: Map<K, number>, key: K, by = 1): void => void map.set(key, (map.get(key) ?? 0) + by);
const note = (text: string): void => {
  if (totals.samples.length < 12) totals.samples.push(text);
};

/** Runs one conversation's turns, one at a time, reading its event stream on the side. */
class Driver {
  readonly turns = new Map<string, Turn>();
  readonly pumped: Promise<void>;
  private current: Turn | undefined;
  private ended = false;
  private turnCount = 0;
  private readonly rng: () => number;

  constructor(
    readonly index: number,
    readonly conversationId: string,
    readonly conversation: Conversation,
  ) {
    this.rng = random(SEED + index * 7919);
    this.pumped = this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for await (const event of this.conversation.events()) this.onEvent(event);
    } catch (error) {
      note(`c${this.index}: event stream threw: ${String(error)}`);
    }
    this.ended = true;
    this.current?.settle("conversation ended");
  }

  private onEvent({ id, msg }: Event): void {
    if (msg.type === "conversation_restarted") {
      bump(totals.restartsByReason, msg.reason);
      if (this.current && !this.current.started) this.current.cutBeforeStart();
      return;
    }
    if (id === "") return;
    const turn = this.turns.get(id);
    if (turn === undefined || turn.outcome !== undefined) {
      if (msg.type === "task_started" || msg.type === "task_complete" || msg.type === "error") {
        totals.strayEvents += 1;
        note(`c${this.index}: ${msg.type} for ${turn ? `ended turn ${id} (${turn.outcome})` : `unknown id ${id}`}`);
      }
      return;
    }
    switch (msg.type) {
      case "task_started":
        turn.started = true;
        if (turn.fault) bump(totals.took, turn.fault);
        break;
      case "error":
        turn.error ??= msg.message;
        break;
      case "task_complete":
        if (turn.error !== undefined || msg.last_agent_message === null) turn.settle("crashed");
        else turn.settle(msg.last_agent_message === `ok: ${turn.text}` ? "completed" : "wrong answer");
        break;
      case "turn_aborted":
        turn.settle("aborted");
        break;
      default:
        break;
    }
  }

  /** Turns back to back until `endAt`; the last one may run past it (bounded by its own deadline). */
  async run(endAt: number): Promise<void> {
    while (performance.now() < endAt && !this.ended) {
      const fault = this.rng() < FAULT_RATE ? FAULTS[Math.floor(this.rng() * FAULTS.length)] : undefined;
      const n = this.turnCount++;
      const text = fault ? `FAULT:${fault} c${this.index} t${n}` : `hello c${this.index} t${n}`;
      let id: string | undefined;
      try {
        id = await within(this.conversation.submit({ type: "user_input", items: [{ type: "text", text }] }), TURN_TIMEOUT_MS);
      } catch (error) {
        if (!this.ended) note(`c${this.index}: submit failed: ${String(error).split("\n")[0]}`);
        bump(totals.outcomes, "submit failed");
        break;
      }
      if (id === undefined) {
        bump(totals.outcomes, "stuck");
        note(`c${this.index}: submit of "${text}" did not return within ${TURN_TIMEOUT_MS} ms`);
        break;
      }
      if (fault) bump(totals.injected, fault);
      const turn = new Turn(id, text, fault);
      this.turns.set(id, turn);
      this.current = turn;
      const outcome = (await within(turn.done, TURN_TIMEOUT_MS)) ?? "stuck";
      if (outcome === "stuck") {
        turn.settle("stuck");
        note(`c${this.index}: turn ${id} "${text}" (started: ${turn.started}) did not end within ${TURN_TIMEOUT_MS} ms`);
      }
      this.current = undefined;
      bump(totals.outcomes, outcome === "crashed" && !fault ? "crashed (no fault injected)" : outcome);
      if (outcome === "stuck" || outcome === "wrong answer") break;
      if (THINK_MS > 0) await new Promise((resolve) => setTimeout(resolve, THINK_MS));
    }
  }
}

/** Every .jsonl file under `dir`. */
async function rolloutFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith(".jsonl")).map((entry) => path.join(entry.parentPath, entry.name));
}

type RolloutCheck = { files: number; lines: number; badLines: number; unterminated: number; userTexts: Map<string, Map<string, number>> };

/** Parses every line of every rollout; collects the user messages of each file (response items and events). */
async function checkRollouts(home: string): Promise<RolloutCheck> {
  const check: RolloutCheck = { files: 0, lines: 0, badLines: 0, unterminated: 0, userTexts: new Map() };
  for (const file of await rolloutFiles(path.join(home, "sessions"))) {
    check.files += 1;
    const text = await readFile(file, "utf8");
    if (text.length > 0 && !text.endsWith("\n")) check.unterminated += 1;
    const texts = new Map<string, number>();
    check.userTexts.set(file, texts);
    text.split("\n").forEach((line, i) => {
      if (line === "") return;
      check.lines += 1;
      let parsed: { type?: string; payload?: Record<string, unknown> };
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch {
        check.badLines += 1;
        note(`${path.basename(file)}:${i + 1} does not parse: ${line.slice(0, 80)}`);
        return;
      }
      const payload = parsed.payload ?? {};
      if (parsed.type === "response_item" && payload.type === "message" && payload.role === "user") {
        const content = (payload.content ?? []) as { text?: string }[];
        bump(texts, `item:${content.map((part) => part.text ?? "").join("")}`);
      } else if (parsed.type === "event_msg" && payload.type === "user_message") {
        bump(texts, `event:${String(payload.message)}`);
      }
    });
  }
  return check;
}

if (args.get("child") === undefined) {
  // The run goes in a child process: a fault that takes the whole process down is then reported, not just suffered.
  const script = process.argv[1] as string;
  // `--require-esm off`: the workers (which inherit the process's flags) cannot require() their ES module entry,
  // so piscina loads it with import() instead. A worker terminated inside require() of an ES module graph aborts
  // the whole process on Node 20 (see BENCHMARKS.md, Chaos); this shows what the run gives without that.
  const flags = args.get("require-esm") === "off" ? ["--no-experimental-require-module"] : [];
  const child = spawn(process.execPath, [...flags, ...nodeArgsFor(script, [...process.argv.slice(2), "--child", "1"])], {
    stdio: ["ignore", "inherit", "pipe"],
  });
  let fatal = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    process.stderr.write(chunk);
    fatal ||= /(FATAL ERROR|Assertion failed|Segmentation fault)[^\n]*/.exec(chunk)?.[0] ?? "";
  });
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  if (code === 0) process.exit(0);
  printTable("chaos: the run did not finish", ["exit code", "signal", "first fatal line on stderr"], [[String(code), String(signal), fatal || "-"]]);
  process.exit(1);
}

printMachine("chaos");
console.log(
  `# ${CONVERSATIONS} conversations (${PER_THREAD}/thread), ${SECONDS} s, fault rate ${FAULT_RATE}, seed ${SEED}, ` +
    `hang timeout ${HANG_TIMEOUT_MS} ms, heap limit 64 MiB per worker, think time ${THINK_MS} ms, ` +
    `require(esm) in workers ${process.execArgv.includes("--no-experimental-require-module") ? "off" : "on"}`,
);
const home = tempDir("chaos");
await stat(home); // wakes libuv's thread pool before the baseline, so it is not counted as grown
await settle(500);
const before = { rss: currentRss(), heap: process.memoryUsage().heapUsed, threads: threadCount() };
const t0 = performance.now();

const manager = new ConversationManager({
  maxConversations: CONVERSATIONS,
  conversationsPerThread: PER_THREAD,
  resourceLimits: { maxOldGenerationSizeMb: 64 },
  // Generous: a conversation should keep restarting through the run, but one that crashes in a loop still fails.
  restartIntensity: { maxRestarts: 20, periodMs: 10_000 },
  restartBackoff: { initialMs: 50, maxMs: 1_000 },
  hangTimeoutMs: HANG_TIMEOUT_MS,
});
/** Crashes of incarnations that had not announced their session yet, by reason (a restart or a spawn cut short). */
const crashedWhileStarting = new Map<string, number>();
/**
 * When each conversation's current incarnation began to wait for its session_configured, and whether its move
 * to "active" came a hang timeout later: list() and onStateChange report the watchdog's `hung` state as
 * "active", so an incarnation killed as hung while starting shows awaitingSessionConfigured -> active -> restarting.
 */
const starting = new Map<string, { since: number; hungAtStart: boolean }>();
manager.onStateChange((change) => {
  const now = performance.now();
  if (change.state === "awaitingSessionConfigured") starting.set(change.conversationId, { since: now, hungAtStart: false });
  const start = starting.get(change.conversationId);
  if (change.state === "active" && change.previous === "awaitingSessionConfigured" && start) {
    start.hungAtStart = now - start.since >= HANG_TIMEOUT_MS * 0.95;
  }
  // A change's cause is the last crash's until the next one: only a move to restarting or failed is a new crash.
  if ((change.state !== "restarting" && change.state !== "failed") || !(change.cause instanceof WorkerCrashedError)) return;
  const reason = change.cause.reason;
  if (change.previous === "awaitingSessionConfigured" || (reason === "hung" && start?.hungAtStart === true)) {
    bump(crashedWhileStarting, reason);
    note(`crashed before session_configured: ${change.cause.message.slice(0, 160)}`);
  }
});
const config = createConfig({
  home,
  cwd: home,
  model: "chaos-model",
  modelProviderModule: MODEL,
  approvalPolicy: "never",
  sandboxPolicy: { mode: "read-only" },
});

const drivers: Driver[] = [];
let spawnFailures = 0;
for (let done = 0; done < CONVERSATIONS; done += SPAWN_BATCH) {
  const batch = Array.from({ length: Math.min(SPAWN_BATCH, CONVERSATIONS - done) }, (_, i) => done + i);
  await Promise.all(
    batch.map(async (index) => {
      try {
        const started = await within(manager.newConversation(config), 60_000);
        if (started === undefined) throw new Error("newConversation did not return within 60 s");
        drivers.push(new Driver(index, started.conversationId, started.conversation));
      } catch (error) {
        spawnFailures += 1;
        note(`c${index}: spawn failed: ${String(error).split("\n")[0]}`);
      }
    }),
  );
}
const spawnMs = performance.now() - t0;

const progress = (phase: string): void =>
  console.error(
    `chaos: ${num((performance.now() - t0) / 1000)} s ${phase}: ${totals.outcomes.get("completed") ?? 0} turns completed, ` +
      `${[...totals.restartsByReason.values()].reduce((a, b) => a + b, 0)} restarts ` +
      `(${[...totals.restartsByReason].map(([reason, n]) => `${reason} ${n}`).join(", ")}), ` +
      `crashed while starting: ${[...crashedWhileStarting].map(([reason, n]) => `${reason} ${n}`).join(", ") || "none"}, ` +
      `load ${loadavg()[0]?.toFixed(2)}`,
  );
progress(`${drivers.length} conversations spawned`);
const ticker = setInterval(() => progress("running"), 5_000);
const chaosStart = performance.now();
await Promise.all(drivers.map((driver) => driver.run(chaosStart + SECONDS * 1000)));
const chaosMs = performance.now() - chaosStart;
clearInterval(ticker);
progress("turns done, shutting down");

const rows = manager.list();
const restarts = rows.reduce((sum, row) => sum + row.restarts, 0);
const states = new Map<string, number>();
for (const row of rows) bump(states, row.state);
const peak = peakRss();
const duringThreads = threadCount();

const shutdownStart = performance.now();
const shutdownDone = await within(
  manager.shutdown({ timeoutMs: SHUTDOWN_TIMEOUT_MS }).then(() => true),
  SHUTDOWN_TIMEOUT_MS + SHUTDOWN_GRACE_MS,
);
const shutdownMs = performance.now() - shutdownStart;
if (shutdownDone === undefined) note(`manager.shutdown did not return within ${SHUTDOWN_TIMEOUT_MS + SHUTDOWN_GRACE_MS} ms`);
const streamsEnded = await within(Promise.all(drivers.map((driver) => driver.pumped)).then(() => true), 5_000);
if (streamsEnded === undefined) note("some event streams did not end within 5 s of the shutdown");
await settle(2_000);
const after = { rss: currentRss(), heap: process.memoryUsage().heapUsed, threads: threadCount() };

const rollouts = await checkRollouts(home);
let acknowledged = 0;
let missing = 0;
let duplicated = 0;
/** Turns dropped by a crash before their task_started reached us, whose prompt the rollout has nonetheless. */
let droppedButRecorded = 0;
for (const driver of drivers) {
  const texts = rollouts.userTexts.get(driver.conversation.rolloutPath) ?? new Map<string, number>();
  for (const turn of driver.turns.values()) {
    const items = texts.get(`item:${turn.text}`) ?? 0;
    const events = texts.get(`event:${turn.text}`) ?? 0;
    if (items > 1 || events > 1) {
      duplicated += 1;
      note(`c${driver.index}: "${turn.text}" recorded ${items} times as an item, ${events} as an event`);
    }
    if (turn.outcome === "dropped" && items + events > 0) droppedButRecorded += 1;
    if (!turn.started) continue;
    acknowledged += 1;
    if (items + events === 0) {
      missing += 1;
      note(`c${driver.index}: "${turn.text}" (turn ${turn.id}, ${turn.outcome}) started but is not in ${path.basename(driver.conversation.rolloutPath)}`);
    }
  }
}
const elapsedMs = performance.now() - t0;

const latencies = drivers.flatMap((driver) =>
  [...driver.turns.values()].filter((turn) => turn.outcome === "completed").map((turn) => turn.endedAt - turn.submittedAt),
);
const latency = summarize(latencies);
const count = (outcome: string): number => totals.outcomes.get(outcome) ?? 0;
const turnsFailed = [...totals.outcomes].filter(([outcome]) => outcome !== "completed").reduce((sum, [, n]) => sum + n, 0);
const reasonsSeen = new Set<string>(Object.values(REASON));

printTable(
  "chaos: faults injected and the restarts they caused",
  ["fault", "injected", "took (task_started)", "restarts with its reason"],
  [
    ...FAULTS.map((fault) => [
      fault,
      String(totals.injected.get(fault) ?? 0),
      String(totals.took.get(fault) ?? 0),
      `${totals.restartsByReason.get(REASON[fault]) ?? 0} (${REASON[fault]})`,
    ]),
    ...[...totals.restartsByReason].filter(([reason]) => !reasonsSeen.has(reason)).map(([reason, n]) => ["-", "0", "0", `${n} (${reason})`]),
    [
      "total",
      String([...totals.injected.values()].reduce((a, b) => a + b, 0)),
      String([...totals.took.values()].reduce((a, b) => a + b, 0)),
      String([...totals.restartsByReason.values()].reduce((a, b) => a + b, 0)),
    ],
  ],
);

printTable(`chaos: ${CONVERSATIONS} conversations, turns back to back for ${SECONDS} s under injected faults`, ["measure", "value"], [
  ["conversations spawned (failed to spawn)", `${drivers.length} (${spawnFailures})`],
  ["conversations restarted (sum of list() restarts)", String(restarts)],
  ["conversations at the end, by state", [...states].map(([state, n]) => `${state} ${n}`).join(", ") || "-"],
  ["turns completed", String(count("completed"))],
  ["turns failed (all)", String(turnsFailed)],
  ["- cut by an injected fault", String(count("crashed"))],
  ["- cut by a crash with no fault injected", String(count("crashed (no fault injected)"))],
  ["- dropped (cut before task_started, never resumed)", String(count("dropped"))],
  ["  of which the rollout recorded the prompt", String(droppedButRecorded)],
  ["- stuck (no end within 30 s)", String(count("stuck"))],
  ["- other (aborted, wrong answer, conversation ended, submit failed)", String(count("aborted") + count("wrong answer") + count("conversation ended") + count("submit failed"))],
  ["completed turn p50 / p99", `${ms(latency.p50)} / ${ms(latency.p99)}`],
  ["stray events (ids of ended or unknown turns)", String(totals.strayEvents)],
  [
    "incarnations that crashed before session_configured",
    [...crashedWhileStarting].map(([reason, n]) => `${n} ${reason}`).join(", ") || "0",
  ],
  ["rollout files / lines", `${rollouts.files} / ${rollouts.lines}`],
  ["rollout lines that fail to parse", String(rollouts.badLines)],
  ["rollouts whose last line is unterminated", String(rollouts.unterminated)],
  ["acknowledged user messages (task_started)", String(acknowledged)],
  ["acknowledged user messages missing from rollouts", String(missing)],
  ["user messages recorded more than once", String(duplicated)],
  ["RSS before / peak (VmHWM) / after shutdown", `${mib(before.rss)} / ${mib(peak)} / ${mib(after.rss)}`],
  ["main-thread JS heap before / after shutdown (the script's own records included)", `${mib(before.heap)} / ${mib(after.heap)}`],
  ["threads before / at the end of the run / after shutdown", `${before.threads} / ${duringThreads} / ${after.threads}`],
  ["shutdown", shutdownDone ? ms(shutdownMs) : `did not return in ${ms(shutdownMs)}`],
  ["elapsed (spawn / chaos / total)", `${num(spawnMs / 1000)} s / ${num(chaosMs / 1000)} s / ${num(elapsedMs / 1000)} s`],
]);
if (totals.samples.length > 0) console.error(`chaos: samples of what went wrong:\n  ${totals.samples.join("\n  ")}`);
// Past a shutdown that did not return, a worker may still hold the process open.
process.exit(0);

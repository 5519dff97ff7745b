#!/usr/bin/env node
// The llmx command line. It uses the library exactly as any user would, through src/index.ts.
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import path from "node:path";
import { text } from "node:stream/consumers";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  ConversationManager,
  DEFAULT_MAX_SUBAGENTS,
  LlmxError,
  RolloutNotFoundError,
  defaultHome,
  findRolloutPathById,
  listConversations,
  loadConfig,
  type ConfigOverrides,
  type ConversationConfig,
  type NewConversation,
  WorkerCrashedError,
  commandEnvironment,
  sandboxMode,
  sandboxedArgv,
  type SandboxOptions,
} from "../index.js";
import { startMockModelServer } from "../mock-model/index.js";
import { CLI_VERSION } from "../version.js";
import { promptForApproval } from "./approval-prompt.js";
import { DEFAULT_PS_TIMEOUT_MS, runPs } from "./ps.js";
import { runPrompt } from "./run-turn.js";

type TurnOptions = {
  json?: boolean;
  cd?: string;
  model?: string;
  provider?: string;
  approvalPolicy?: ConfigOverrides["approvalPolicy"];
  sandbox?: ConfigOverrides["sandboxMode"];
  fullAuto?: boolean;
  config: string[];
  home?: string;
  addDir?: string[];
  outputLastMessage?: string;
};

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The options every command that runs a turn takes (the ones `codex exec` takes, where they apply). */
function turnOptions(command: Command): Command {
  return command
    .option("--json", "print events as JSON lines, like `codex exec --json`")
    .addOption(new Option("--experimental-json", "alias of --json").hideHelp())
    .option("-C, --cd <dir>", "working directory of the session")
    .option("-m, --model <model>", "model to use")
    .option("--provider <id>", "model provider id (offline, openai, ollama, or one from config.toml)")
    .addOption(
      new Option("-a, --approval-policy <policy>", "when to ask before running a command").choices([
        "untrusted",
        "on-failure",
        "on-request",
        "never",
      ]),
    )
    .addOption(
      new Option("-s, --sandbox <mode>", "sandbox policy").choices(["read-only", "workspace-write", "danger-full-access"]),
    )
    .option("--full-auto", "low-friction sandboxed runs: sandbox workspace-write, approval on-request (as Codex)")
    .option("-c, --config <key=value>", "override a config.toml value (TOML syntax; repeatable)", collect, [])
    .option("--home <dir>", "llmx home holding config.toml and sessions/ (default: $LLMX_HOME or ~/.llmx)")
    .option("--add-dir <dir>", "another directory the workspace-write sandbox lets commands write (repeatable)", collect, [])
    .option("-o, --output-last-message <file>", "also write the model's last message to this file")
    .option("--skip-git-repo-check", "accepted for compatibility with codex exec");
}

async function configFrom(options: TurnOptions & { experimentalJson?: boolean }): Promise<ConversationConfig> {
  if (options.experimentalJson) options.json = true;
  const overrides: ConfigOverrides = { rawOverrides: options.config };
  if (options.home) overrides.home = options.home;
  if (options.cd) overrides.cwd = options.cd;
  if (options.model) overrides.model = options.model;
  if (options.provider) overrides.provider = options.provider;
  if (options.fullAuto) {
    // Codex's meaning: commands run unasked inside a sandbox that lets them write only the workspace.
    overrides.approvalPolicy = "on-request";
    overrides.sandboxMode = "workspace-write";
  }
  if (options.approvalPolicy) overrides.approvalPolicy = options.approvalPolicy;
  if (options.sandbox) overrides.sandboxMode = options.sandbox;
  const config = await loadConfig(overrides);
  // A session in a directory that does not exist would fail on its first command: refuse it up front.
  if (!isDirectory(config.cwd)) throw new LlmxError(`working directory ${config.cwd} does not exist or is not a directory`);
  const extra = (options.addDir ?? []).map((dir) => path.resolve(dir));
  const missing = extra.find((dir) => !isDirectory(dir));
  if (missing !== undefined) throw new LlmxError(`--add-dir ${missing} does not exist or is not a directory`);
  if (extra.length > 0 && sandboxMode(config.sandboxPolicy) === "workspace-write") {
    const policy = config.sandboxPolicy as { writable_roots?: string[] };
    config.sandboxPolicy = { ...config.sandboxPolicy, writable_roots: [...(policy.writable_roots ?? []), ...extra] };
  }
  return config;
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** The prompt from the command line, or standard input when it is absent or `-` (as codex exec reads it). */
async function readPrompt(prompt: string | undefined): Promise<string> {
  if (prompt !== undefined && prompt !== "-") return prompt;
  if (process.stdin.isTTY) throw new LlmxError("no prompt given (pass it as an argument or on standard input)");
  const fromStdin = (await text(process.stdin)).trim();
  if (fromStdin === "") throw new LlmxError("no prompt given on standard input");
  return fromStdin;
}

/** The shell's code for a process ended by Ctrl-C (128 + SIGINT). */
const EXIT_CODE_INTERRUPTED = 130;
/** After Ctrl-C: how long the turn, then the conversation and its worker, each get to end before being cut short. */
const INTERRUPT_GRACE_MS = 5_000;

/**
 * Runs one prompt in a conversation. The first Ctrl-C interrupts the turn (the session kills the running command
 * and records `turn_aborted`), waits a bounded time for it to end, shuts everything down and exits with 130; a
 * second Ctrl-C, or one before any conversation is starting, exits with 130 at once (commands die with us).
 */
async function runConversation(
  options: TurnOptions,
  prompt: string | undefined,
  start: (manager: ConversationManager, config: ConversationConfig) => Promise<NewConversation>,
): Promise<void> {
  const interrupt = new AbortController();
  let starting = false;
  const onSigint = (): void => {
    if (!starting || interrupt.signal.aborted) process.exit(EXIT_CODE_INTERRUPTED);
    process.stderr.write("\ninterrupting the turn (Ctrl-C again to quit at once)\n");
    interrupt.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    const config = await configFrom(options);
    const input = await readPrompt(prompt);
    // One conversation, and room for the sub-agents its tree may run at once.
    const maxConversations = 1 + (config.maxSubagents ?? DEFAULT_MAX_SUBAGENTS);
    const manager = new ConversationManager({ source: "exec", maxConversations, minThreads: 1 });
    starting = true;
    const graceIfInterrupted = () => (interrupt.signal.aborted ? { timeoutMs: INTERRUPT_GRACE_MS } : {});
    try {
      const { conversation, sessionConfigured } = await start(manager, config);
      const interactive = process.stdin.isTTY === true && options.json !== true;
      const result = await runPrompt(
        conversation,
        input,
        {
          json: options.json === true,
          stdout: process.stdout,
          stderr: process.stderr,
          ...(interactive ? { approve: (request) => promptForApproval(request, process.stdin, process.stderr) } : {}),
        },
        { id: "", msg: sessionConfigured },
        { signal: interrupt.signal, interruptGraceMs: INTERRUPT_GRACE_MS },
      );
      await conversation.shutdown(graceIfInterrupted());
      if (options.outputLastMessage !== undefined) await writeFile(options.outputLastMessage, result.lastAgentMessage ?? "");
      if (result.failed) process.exitCode = 1;
    } finally {
      await manager.shutdown(graceIfInterrupted());
    }
  } catch (error) {
    if (!interrupt.signal.aborted) {
      process.off("SIGINT", onSigint);
      throw error;
    }
  }
  // Interrupted: the handler stays until the end, so that another Ctrl-C during the exit cannot kill us with
  // SIGINT instead of 130. An approval prompt may still be reading the terminal: do not wait for it.
  if (interrupt.signal.aborted) process.exit(EXIT_CODE_INTERRUPTED);
  process.off("SIGINT", onSigint);
}

async function resolveRollout(home: string, idOrPath: string): Promise<string> {
  if (idOrPath.endsWith(".jsonl") || idOrPath.includes(path.sep)) {
    const resolved = path.resolve(idOrPath);
    if (!existsSync(resolved)) throw new RolloutNotFoundError(resolved);
    return resolved;
  }
  const found = await findRolloutPathById(home, idOrPath);
  if (found === undefined) throw new LlmxError(`no session with id ${idOrPath} under ${home}`);
  return found;
}

function nonNegativeInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError("expected a whole number ≥ 0");
  return parsed;
}

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError("expected a whole number > 0");
  return parsed;
}

const resume = (session: string | undefined, last: boolean) => async (manager: ConversationManager, config: ConversationConfig) =>
  manager.resumeConversationFromRollout(config, await sessionToResume(config.home, session, last));

/** The rollout `resume` continues: the one named, or with `--last` the most recently updated top-level session. */
async function sessionToResume(home: string, session: string | undefined, last: boolean): Promise<string> {
  if (session !== undefined && !last) return resolveRollout(home, session);
  if (!last) throw new LlmxError("name the session to resume (its id or rollout path), or pass --last");
  const { items } = await listConversations(home, { pageSize: 100 });
  const topLevel = items.filter((item) => typeof item.source === "string");
  const newest = topLevel.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))[0];
  if (newest === undefined) throw new LlmxError(`no session to resume under ${home}`);
  return newest.path;
}

const program = new Command()
  .name("llmx")
  .description("Run Codex-compatible agent conversations, each in its own supervised worker thread.")
  .version(CLI_VERSION);

const exec = turnOptions(
  program
    .command("exec")
    .description("run one prompt in a new conversation (prompt from stdin when absent or -)")
    .argument("[prompt]"),
).action(async (prompt: string | undefined, options: TurnOptions) => {
  await runConversation(options, prompt, (manager, config) => manager.newConversation(config));
});

// `llmx exec [options] resume <id> [prompt]`: the form @openai/codex-sdk uses to continue a thread.
exec
  .command("resume")
  .description("continue a recorded session with a new prompt")
  .argument("[session]", "session id or rollout file path")
  .argument("[prompt]")
  .option("--last", "the most recently updated session (then the first argument is the prompt)")
  .action(async (session: string | undefined, prompt: string | undefined, options: { last?: boolean }, command: Command) => {
    const last = options.last === true;
    await runConversation(command.parent?.opts<TurnOptions>() ?? { config: [] }, last ? (session ?? prompt) : prompt, resume(session, last));
  });

turnOptions(
  program
    .command("resume")
    .description("continue a recorded session (by id or rollout path, or --last) with a new prompt")
    .argument("[session]", "session id or rollout file path")
    .argument("[prompt]")
    .option("--last", "the most recently updated session (then the first argument is the prompt)"),
).action(async (session: string | undefined, prompt: string | undefined, options: TurnOptions & { last?: boolean }) => {
  const last = options.last === true;
  await runConversation(options, last ? (session ?? prompt) : prompt, resume(session, last));
});

turnOptions(
  program
    .command("fork")
    .description("start a new session from a recorded one, cut before its nth (0-based) user message")
    .argument("<session>", "session id or rollout file path")
    .argument("[prompt]")
    .requiredOption("--nth <n>", "user message to cut before (0-based)", nonNegativeInt),
).action(async (session: string, prompt: string | undefined, options: TurnOptions & { nth: number }) => {
  await runConversation(options, prompt, async (manager, config) =>
    manager.forkConversation(options.nth, config, await resolveRollout(config.home, session)),
  );
});

program
  .command("sessions")
  .description("list recorded sessions, newest first")
  .option("--home <dir>", "llmx home holding sessions/")
  .option("--json", "print one JSON object per session")
  .option("-n, --limit <n>", "how many to list", nonNegativeInt, 25)
  .action(async (options: { home?: string; json?: boolean; limit: number }) => {
    const home = options.home ? path.resolve(options.home) : defaultHome();
    const page = await listConversations(home, { pageSize: options.limit });
    for (const item of page.items) {
      if (options.json) process.stdout.write(`${JSON.stringify(item)}\n`);
      else process.stdout.write(`${item.conversationId}  ${item.updatedAt}  ${oneLine(item.preview ?? "")}\n`);
    }
  });

program
  .command("ps")
  .description("list the running app-server hosts and their conversations (a tree per host)")
  .option("--home <dir>", "llmx home the hosts run under (default: $LLMX_HOME or ~/.llmx)")
  .option("--json", "print the hosts and their conversation trees as JSON")
  .option("--timeout <ms>", "how long each host gets to answer", positiveInt, DEFAULT_PS_TIMEOUT_MS)
  .action(async (options: { home?: string; json?: boolean; timeout: number }) => {
    const home = options.home ? path.resolve(options.home) : defaultHome();
    process.exitCode = await runPs({ home, json: options.json === true, timeoutMs: options.timeout }, process.stdout);
  });

type SandboxCommandOptions = {
  mode?: ConfigOverrides["sandboxMode"];
  addDir: string[];
  network?: boolean;
  cd?: string;
  config: string[];
  home?: string;
};

program
  .command("sandbox")
  .description(
    "run one command under a sandbox policy (like `codex sandbox linux`), with the configured environment, " +
      "stdio inherited; exits with its exit code",
  )
  .addOption(
    new Option("--mode <mode>", "sandbox policy (default: config.toml's sandbox_mode, else read-only)").choices([
      "read-only",
      "workspace-write",
      "danger-full-access",
    ]),
  )
  .option("--add-dir <dir>", "another writable directory (workspace-write; repeatable)", collect, [])
  .option("--network", "allow network access")
  .option("-C, --cd <dir>", "the workspace (writable under workspace-write) and working directory")
  .option("-c, --config <key=value>", "override a config.toml value (TOML syntax; repeatable)", collect, [])
  .option("--home <dir>", "llmx home holding config.toml (default: $LLMX_HOME or ~/.llmx); hidden from the command")
  .argument("<command...>", "the command and its arguments (put them after --)")
  .action(async (command: string[], options: SandboxCommandOptions) => {
    process.exitCode = await runSandboxed(command, options);
  });

async function runSandboxed(command: string[], options: SandboxCommandOptions): Promise<number> {
  const overrides: ConfigOverrides = { rawOverrides: options.config };
  if (options.home) overrides.home = options.home;
  if (options.cd) overrides.cwd = options.cd;
  if (options.mode) overrides.sandboxMode = options.mode;
  const config = await loadConfig(overrides);
  if (options.addDir.length > 0 && sandboxMode(config.sandboxPolicy) !== "workspace-write") {
    throw new LlmxError("--add-dir needs the workspace-write mode (--mode workspace-write)");
  }
  const env = commandEnvironment(config.shellEnvironmentPolicy, process.env);
  const sandbox: SandboxOptions = {
    policy: config.sandboxPolicy,
    cwd: config.cwd,
    llmxHome: config.home,
    writableRoots: options.addDir.map((dir) => path.resolve(dir)),
    ...(options.network ? { networkAccess: true } : {}),
  };
  const [file, ...args] = await sandboxedArgv(command, config.cwd, env, sandbox);
  const child = spawn(file as string, args, { cwd: config.cwd, env, stdio: "inherit" });
  // Ctrl-C reaches the command's process group from the terminal; we wait to report how it ended. A SIGTERM or
  // SIGHUP sent to us alone is passed on.
  const ignore = (): void => {};
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on("SIGINT", ignore);
  process.on("SIGTERM", forward);
  process.on("SIGHUP", forward);
  try {
    return await new Promise<number>((resolve) => {
      child.once("error", (error: NodeJS.ErrnoException) => {
        process.stderr.write(`llmx: cannot run ${command[0] ?? ""}: ${error.message}\n`);
        resolve(error.code === "EACCES" ? 126 : 127);
      });
      child.once("close", (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : (osConstants.signals[signal] ?? 0))));
    });
  } finally {
    process.off("SIGINT", ignore);
    process.off("SIGTERM", forward);
    process.off("SIGHUP", forward);
  }
}

program
  .command("mock-model")
  .description("serve a local OpenAI-compatible mock model (Responses and Chat Completions) for tests and demos")
  .option("-p, --port <port>", "port to listen on (0 picks a free one)", nonNegativeInt, 0)
  .option("--host <host>", "address to listen on", "127.0.0.1")
  .action(async (options: { port: number; host: string }) => {
    const server = await startMockModelServer({ port: options.port, host: options.host });
    process.stdout.write(`mock model listening on ${server.url}\n`);
    const stop = (): void => void server.close().then(() => process.exit(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });

function oneLine(value: string): string {
  const flat = value.replace(/\s+/g, " ").trim();
  return flat.length > 72 ? `${flat.slice(0, 71)}…` : flat;
}

// `llmx sessions | head` closes our stdout early; that is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

/**
 * A session that refuses to start (its rollout is locked by another process, or is not the conversation its
 * name says) ends its worker with that error, which reaches us as the worker's crash: say the cause itself.
 */
function failureMessage(error: unknown): string {
  if (error instanceof WorkerCrashedError && error.reason === "threw" && error.cause instanceof LlmxError) {
    return error.cause.message;
  }
  return error instanceof Error ? error.message : String(error);
}

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`llmx: ${failureMessage(error)}\n`);
  process.exitCode = 1;
});

#!/usr/bin/env node
// The llmx command line. It uses the library exactly as any user would, through src/index.ts.
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import path from "node:path";
import { text } from "node:stream/consumers";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  ConversationManager,
  ForkPointError,
  InvalidInputFileError,
  isUserMessage,
  readRolloutHistory,
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
  type ConversationSummary,
  type UserInput,
  imageDataUrl,
} from "../index.js";
import { startMockModelServer } from "../mock-model/index.js";
import { CLI_VERSION } from "../version.js";
import { runAppServer, type AppServerCommandOptions } from "./app-server.js";
import { promptForApproval } from "./approval-prompt.js";
import { createTextRenderer, useColor, type ColorChoice } from "./exec-text.js";
import { DEFAULT_PS_TIMEOUT_MS, runPs } from "./ps.js";
import { runPrompt, type PromptInput } from "./run-turn.js";

type TurnOptions = {
  json?: boolean;
  cd?: string;
  model?: string;
  provider?: string;
  askForApproval?: ConfigOverrides["approvalPolicy"];
  approvalPolicy?: ConfigOverrides["approvalPolicy"];
  sandbox?: ConfigOverrides["sandboxMode"];
  profile?: string;
  color?: ColorChoice;
  outputSchema?: string;
  image?: string[];
  ephemeral?: boolean;
  fullAuto?: boolean;
  config: string[];
  home?: string;
  addDir?: string[];
  outputLastMessage?: string;
};

const collect = (value: string, previous: string[]): string[] => [...previous, value];
/** Repeatable, and each value may list several, comma-separated (as codex's `-i a.png,b.png`). */
const collectList = (value: string, previous: string[]): string[] => [
  ...previous,
  ...value.split(",").map((part) => part.trim()).filter((part) => part !== ""),
];
const APPROVAL_POLICIES = ["untrusted", "on-failure", "on-request", "never"];

/** The options every command that runs a turn takes (the ones `codex exec` takes, where they apply). */
function turnOptions(command: Command): Command {
  return command
    .option("--json", "print events as JSON lines, like `codex exec --json`")
    .addOption(new Option("--experimental-json", "alias of --json").hideHelp())
    .option("-C, --cd <dir>", "working directory of the session")
    .option("-m, --model <model>", "model to use")
    .option("--provider <id>", "model provider id (offline, openai, ollama, or one from config.toml)")
    .addOption(new Option("-a, --ask-for-approval <policy>", "when to ask before running a command").choices(APPROVAL_POLICIES))
    .addOption(new Option("--approval-policy <policy>", "alias of --ask-for-approval").choices(APPROVAL_POLICIES).hideHelp())
    .addOption(
      new Option("-s, --sandbox <mode>", "sandbox policy").choices(["read-only", "workspace-write", "danger-full-access"]),
    )
    .option("--full-auto", "low-friction sandboxed runs: sandbox workspace-write, approval on-request (as Codex)")
    .option("-c, --config <key=value>", "override a config.toml value (TOML syntax; repeatable)", collect, [])
    .option("--home <dir>", "llmx home holding config.toml and sessions/ (default: $LLMX_HOME or ~/.llmx)")
    .option("--add-dir <dir>", "another directory the workspace-write sandbox lets commands write (repeatable)", collect, [])
    .option("-o, --output-last-message <file>", "also write the model's last message to this file")
    .option("-p, --profile <name>", "use the [profiles.<name>] table of config.toml over its top-level keys")
    .option("-i, --image <file>", "attach an image to the prompt (repeatable, or comma-separated)", collectList, [])
    .option("--output-schema <file>", "a JSON schema file the final answer must follow (sent as structured output)")
    .option("--ephemeral", "run without writing a rollout file (the session cannot be resumed)")
    .addOption(
      new Option("--color <when>", "ANSI colour on stderr (auto: only on a terminal)").choices(["always", "never", "auto"]).default("auto"),
    )
    .option("--skip-git-repo-check", "accepted for compatibility with codex exec");
}

async function configFrom(options: TurnOptions & { experimentalJson?: boolean }): Promise<ConversationConfig> {
  if (options.experimentalJson) options.json = true;
  const overrides: ConfigOverrides = { rawOverrides: options.config };
  if (options.home) overrides.home = options.home;
  if (options.cd) overrides.cwd = options.cd;
  if (options.model) overrides.model = options.model;
  if (options.provider) overrides.provider = options.provider;
  if (options.profile !== undefined) overrides.profile = options.profile;
  if (options.ephemeral) overrides.ephemeral = true;
  overrides.onWarning = warnOnStderr;
  if (options.fullAuto) {
    // Codex's meaning: commands run unasked inside a sandbox that lets them write only the workspace.
    overrides.approvalPolicy = "on-request";
    overrides.sandboxMode = "workspace-write";
  }
  const approval = options.askForApproval ?? options.approvalPolicy;
  if (approval) overrides.approvalPolicy = approval;
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

const warnOnStderr = (message: string): void => void process.stderr.write(`llmx: warning: ${message}\n`);

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The prompt, as codex exec reads it: from standard input when it is absent or `-`; given on the command line
 * with standard input piped, the input is appended after a blank line in a `<stdin>` block (empty input adds
 * nothing). Appended input must start within STDIN_CONTEXT_WAIT_MS, so an idle open pipe cannot hang the run.
 */
async function readPrompt(prompt: string | undefined): Promise<string> {
  if (prompt !== undefined && prompt !== "-") {
    if (process.stdin.isTTY) return prompt;
    const piped = await readStdinIfAny(STDIN_CONTEXT_WAIT_MS);
    if (piped === undefined || piped.trim() === "") return prompt;
    return `${prompt}\n\n<stdin>\n${piped}${piped.endsWith("\n") ? "" : "\n"}</stdin>`;
  }
  if (process.stdin.isTTY) throw new LlmxError("no prompt given (pass it as an argument or on standard input)");
  const fromStdin = (await text(process.stdin)).trim();
  if (fromStdin === "") throw new LlmxError("no prompt given on standard input");
  return fromStdin;
}

/** How long a piped standard input gets to send its first byte (or end) when a prompt is also given. */
const STDIN_CONTEXT_WAIT_MS = 2_000;

/** All of standard input, or undefined when nothing (not even its end) arrives within `waitMs`. */
async function readStdinIfAny(waitMs: number): Promise<string | undefined> {
  const stdin = process.stdin;
  const chunks: Buffer[] = [];
  return new Promise<string | undefined>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      stdin.pause();
      process.stderr.write(`llmx: standard input sent nothing within ${waitMs} ms; running without it\n`);
      resolve(undefined);
    }, waitMs);
    const onData = (chunk: Buffer): void => {
      clearTimeout(timer);
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      stdin.off("data", onData).off("end", onEnd).off("error", onError);
    };
    stdin.on("data", onData).once("end", onEnd).once("error", onError);
  });
}

/** The images of `-i`, as data URLs, read before anything starts: a missing or oversized file stops the run. */
async function imageInputs(files: readonly string[]): Promise<UserInput[]> {
  return Promise.all(files.map(async (file) => ({ type: "image" as const, image_url: await imageDataUrl(path.resolve(file)) })));
}

async function readOutputSchema(file: string): Promise<unknown> {
  let source: string;
  try {
    source = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? String(error)})`;
    throw new InvalidInputFileError(file, `--output-schema ${file} ${why}`, { cause: error });
  }
  let schema: unknown;
  try {
    schema = JSON.parse(source);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new InvalidInputFileError(file, `--output-schema ${file} is not valid JSON: ${detail}`, { cause: error });
  }
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new InvalidInputFileError(file, `--output-schema ${file} must hold a JSON object (a JSON schema)`);
  }
  return schema;
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
    const promptText = await readPrompt(prompt);
    const images = await imageInputs(options.image ?? []);
    const schema = options.outputSchema === undefined ? undefined : await readOutputSchema(options.outputSchema);
    // Images first, then the text, in the order codex exec sends them.
    const input: PromptInput = { items: [...images, { type: "text", text: promptText }] };
    if (schema !== undefined) {
      input.turn = {
        cwd: config.cwd,
        approval_policy: config.approvalPolicy,
        sandbox_policy: config.sandboxPolicy,
        model: config.model,
        summary: config.reasoningSummary,
        ...(config.reasoningEffort === undefined ? {} : { effort: config.reasoningEffort }),
        final_output_json_schema: schema,
      };
    }
    // One conversation; its sub-agents have their own limits (the config's maxSubagents).
    const manager = new ConversationManager({ source: "exec", maxConversations: 1, minThreads: 1 });
    starting = true;
    const graceIfInterrupted = () => (interrupt.signal.aborted ? { timeoutMs: INTERRUPT_GRACE_MS } : {});
    try {
      const { conversation, sessionConfigured } = await start(manager, config);
      const interactive = process.stdin.isTTY === true && options.json !== true;
      const renderer = options.json === true ? undefined : createTextRenderer(process.stderr, useColor(options.color ?? "auto", process.stderr));
      renderer?.header(config, sessionConfigured.session_id, promptText);
      const result = await runPrompt(
        conversation,
        input,
        {
          json: options.json === true,
          stdout: process.stdout,
          stderr: process.stderr,
          ...(renderer === undefined ? {} : { text: renderer }),
          // On one terminal the answer was just streamed there; elsewhere stdout gets it (`> out.txt`).
          answerToStdout: !(process.stdout.isTTY === true && process.stderr.isTTY === true),
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

/** The CLI refuses a cut past the last user message (the library would start an empty conversation). */
async function assertForkPoint(rollout: string, home: string, nth: number): Promise<void> {
  const { items } = await readRolloutHistory(rollout, { home });
  const userMessages = items.filter((item) => item.type === "response_item" && isUserMessage(item.payload)).length;
  if (nth >= userMessages) throw new ForkPointError(rollout, nth, userMessages);
}

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError("expected a whole number ≥ 1");
  return parsed;
}

function nonNegativeInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError("expected a whole number ≥ 0");
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
    .description("start a new session from a recorded one: all of it, or cut before its nth (0-based) user message")
    .argument("<session>", "session id or rollout file path")
    .argument("[prompt]")
    .option("--nth <n>", "user message to cut before (0-based; default: fork the whole session)", nonNegativeInt),
).action(async (session: string, prompt: string | undefined, options: TurnOptions & { nth?: number }) => {
  await runConversation(options, prompt, async (manager, config) => {
    const rollout = await resolveRollout(config.home, session);
    if (options.nth !== undefined) await assertForkPoint(rollout, config.home, options.nth);
    return manager.forkConversation(options.nth, config, rollout);
  });
});

program
  .command("sessions")
  .description("list recorded sessions, most recently updated first (top-level ones unless --all)")
  .option("--home <dir>", "llmx home holding sessions/")
  .option("--json", "print one JSON object per session")
  .option("--all", "include sub-agents' sessions")
  .option("-n, --limit <n>", "how many to list per page", positiveInt, 20)
  .option("--page <n>", "which page of --limit sessions (1 is the newest)", positiveInt, 1)
  .action(async (options: { home?: string; json?: boolean; all?: boolean; limit: number; page: number }) => {
    const home = options.home ? path.resolve(options.home) : defaultHome();
    const all = await allSessions(home);
    const chosen = options.all ? all : all.filter((item) => item.parentId === undefined && !isSubagentSource(item.source));
    const page = chosen.slice((options.page - 1) * options.limit, options.page * options.limit);
    if (options.json) {
      for (const item of page) process.stdout.write(`${JSON.stringify(item)}\n`);
      return;
    }
    const rows = page.map((item) => [
      item.conversationId,
      item.updatedAt.replace(/\.\d+Z$/, "Z"),
      item.cwd,
      sourceName(item.source),
      item.parentId ?? "",
      oneLine(item.preview ?? ""),
    ]);
    printTable(["ID", "UPDATED", "CWD", "SOURCE", "PARENT", "FIRST PROMPT"], rows, options.all === true);
    const pages = Math.max(1, Math.ceil(chosen.length / options.limit));
    if (pages > 1) process.stderr.write(`page ${options.page} of ${pages} (${chosen.length} sessions; --page N for more)\n`);
  });

/** Every recorded session, the most recently updated first. */
async function allSessions(home: string): Promise<ConversationSummary[]> {
  const items: ConversationSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await listConversations(home, { pageSize: 500, ...(cursor === undefined ? {} : { cursor }) });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return items.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
}

function isSubagentSource(source: ConversationSummary["source"]): boolean {
  return typeof source === "object" && source !== null && "subagent" in source;
}

function sourceName(source: ConversationSummary["source"]): string {
  if (typeof source === "string") return source;
  return isSubagentSource(source) ? "subagent" : "other";
}

/** Columns padded to their widest cell; the parent column only when sub-agents are listed. */
function printTable(header: string[], rows: string[][], withParent: boolean): void {
  const keep = (_: unknown, index: number): boolean => withParent || index !== 4;
  const table = [header, ...rows].map((row) => row.filter(keep));
  const widths = (table[0] ?? []).map((_, column) => Math.max(...table.map((row) => (row[column] ?? "").length)));
  for (const row of table) {
    const cells = row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)));
    process.stdout.write(`${cells.join("  ")}\n`);
  }
}

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
  overrides.onWarning = warnOnStderr;
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
  .command("app-server")
  .description(
    "serve Codex's app-server protocol (v2 JSON-RPC) to Codex clients: one JSON message per line on standard " +
      "input/output (exits when standard input closes), or WebSocket with --listen ws://HOST:PORT",
  )
  .option("--listen <url>", "stdio:// (default) or ws://HOST:PORT", "stdio://")
  .option("--ws-auth <mode>", "WebSocket client authentication: capability-token (required off loopback)")
  .option("--ws-token-file <path>", "file holding the capability token clients present as Authorization: Bearer")
  .option("--home <dir>", "llmx home holding config.toml and sessions/ (default: $LLMX_HOME or ~/.llmx)")
  .option("-c, --config <key=value>", "override a config.toml value for every thread (TOML syntax; repeatable)", collect, [])
  .option("--max-conversations <n>", "live top-level conversations at once (sub-agents have their own limits)", positiveInt, 64)
  .action(async (options: AppServerCommandOptions) => {
    await runAppServer(options);
  });

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

#!/usr/bin/env node
// The llmx command line. It uses the library exactly as any user would, through src/index.ts.
import { existsSync } from "node:fs";
import path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import {
  ConversationManager,
  LlmxError,
  RolloutNotFoundError,
  createConfig,
  defaultHome,
  findRolloutPathById,
  listConversations,
  type ConversationConfig,
  type NewConversation,
} from "../index.js";
import { CLI_VERSION } from "../version.js";
import { runPrompt } from "./run-turn.js";

type CommonOptions = { json?: boolean; cwd?: string; model?: string; home?: string };

function configFrom(options: CommonOptions): ConversationConfig {
  return createConfig({
    home: options.home ? path.resolve(options.home) : defaultHome(),
    cwd: path.resolve(options.cwd ?? process.cwd()),
    ...(options.model ? { model: options.model } : {}),
  });
}

async function withConversation(
  options: CommonOptions,
  start: (manager: ConversationManager, config: ConversationConfig) => Promise<NewConversation>,
  prompt: string,
): Promise<void> {
  const manager = new ConversationManager({ source: "exec", maxConversations: 1, minThreads: 1 });
  try {
    const config = configFrom(options);
    const { conversation, sessionConfigured } = await start(manager, config);
    if (options.json) process.stdout.write(`${JSON.stringify({ id: "", msg: sessionConfigured })}\n`);
    const result = await runPrompt(conversation, prompt, {
      json: options.json === true,
      stdout: process.stdout,
      stderr: process.stderr,
    });
    await conversation.shutdown();
    if (result.failed) process.exitCode = 1;
  } finally {
    await manager.shutdown();
  }
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

const common = (command: Command): Command =>
  command
    .option("--json", "print every event as a JSON line")
    .option("-C, --cwd <dir>", "working directory of the session")
    .option("-m, --model <model>", "model to use")
    .option("--home <dir>", "llmx home holding sessions/ (default: $LLMX_HOME or ~/.llmx)");

const program = new Command()
  .name("llmx")
  .description("Run Codex-compatible agent conversations, each in its own supervised worker thread.")
  .version(CLI_VERSION);

common(program.command("exec").description("run one prompt in a new conversation").argument("<prompt>")).action(
  async (prompt: string, options: CommonOptions) => {
    await withConversation(options, (manager, config) => manager.newConversation(config), prompt);
  },
);

common(
  program
    .command("resume")
    .description("continue a recorded session (by id or rollout path) with a new prompt")
    .argument("<session>", "session id or rollout file path")
    .argument("<prompt>"),
).action(async (session: string, prompt: string, options: CommonOptions) => {
  await withConversation(
    options,
    async (manager, config) => manager.resumeConversationFromRollout(config, await resolveRollout(config.home, session)),
    prompt,
  );
});

common(
  program
    .command("fork")
    .description("start a new session from a recorded one, cut before its nth (0-based) user message")
    .argument("<session>", "session id or rollout file path")
    .argument("<prompt>")
    .requiredOption("--nth <n>", "user message to cut before (0-based)", nonNegativeInt),
).action(async (session: string, prompt: string, options: CommonOptions & { nth: number }) => {
  await withConversation(
    options,
    async (manager, config) => manager.forkConversation(options.nth, config, await resolveRollout(config.home, session)),
    prompt,
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

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 72 ? `${flat.slice(0, 71)}…` : flat;
}

// `llmx sessions | head` closes our stdout early; that is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`llmx: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});

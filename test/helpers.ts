// Shared by the runtime tests: throwaway homes, configs, managers that are always shut down, and turn helpers.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll } from "vitest";
import {
  ConversationManager,
  createConfig,
  type Conversation,
  type ConversationConfig,
  type ConversationManagerOptions,
  type Event,
  type ReviewDecision,
  type WireApi,
} from "../src/index.js";
import { startMockModelServer, type MockModelServer } from "../src/mock-model/index.js";

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");
/** The built CLI entry (tests that run the command line run what `npm run build` made). */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist/src/cli/main.js");

/** A config.toml that points llmx (or Codex) at the mock model at `url`; `extra` lines go at the top level. */
export function mockConfigToml(url: string, extra = "", wireApi = "responses"): string {
  return (
    `model = "mock-model"\nmodel_provider = "mock"\n${extra}\n[model_providers.mock]\nbase_url = "${url}"\n` +
    `wire_api = "${wireApi}"\nrequest_max_retries = 0\n`
  );
}

/** Temporary llmx homes and managers created in a test are removed / shut down after it. */
export function useRuntime(): {
  home(): Promise<string>;
  manager(options?: ConversationManagerOptions): ConversationManager;
} {
  const homes: string[] = [];
  const managers: ConversationManager[] = [];
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((manager) => manager.shutdown({ timeoutMs: 2_000 })));
    await Promise.all(homes.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return {
    async home() {
      const dir = await mkdtemp(path.join(tmpdir(), "llmx-test-"));
      homes.push(dir);
      return dir;
    },
    manager(options = {}) {
      const manager = new ConversationManager({ minThreads: 0, maxConversations: 8, ...options });
      managers.push(manager);
      return manager;
    },
  };
}

export function testConfig(home: string, overrides: Partial<ConversationConfig> = {}): ConversationConfig {
  return createConfig({ home, cwd: home, ...overrides });
}

export function textInput(text: string) {
  return { type: "user_input" as const, items: [{ type: "text" as const, text }] };
}

/** Events of one turn: everything read until the turn's `task_complete` or `turn_aborted`. */
export async function readTurn(conversation: Conversation, turnId: string): Promise<Event[]> {
  const events: Event[] = [];
  for (;;) {
    const event = await conversation.nextEvent();
    events.push(event);
    if (event.id === turnId && (event.msg.type === "task_complete" || event.msg.type === "turn_aborted")) return events;
  }
}

/** Submits a text prompt and reads its turn to the end. */
export async function runTurn(conversation: Conversation, text: string): Promise<Event[]> {
  const id = await conversation.submit(textInput(text));
  return readTurn(conversation, id);
}

export const types = (events: readonly Event[]): string[] => events.map((event) => event.msg.type);

/** A mock model server for the whole test file, and configs that point conversations at it. */
export function useMockModel(): {
  readonly server: MockModelServer;
  config(home: string, overrides?: Partial<ConversationConfig> & { wireApi?: WireApi }): ConversationConfig;
} {
  let server: MockModelServer | undefined;
  beforeAll(async () => {
    server = await startMockModelServer();
  });
  afterAll(async () => {
    await server?.close();
  });
  const running = (): MockModelServer => {
    if (server === undefined) throw new Error("the mock model server is not running");
    return server;
  };
  return {
    get server() {
      return running();
    },
    config(home, { wireApi = "responses", ...overrides } = {}) {
      return testConfig(home, {
        model: "mock-model",
        modelProvider: "mock",
        provider: {
          id: "mock",
          name: "Mock",
          baseUrl: running().url,
          wireApi,
          requestMaxRetries: 2,
          streamMaxRetries: 2,
          streamIdleTimeoutMs: 10_000,
        },
        ...overrides,
      });
    },
  };
}

/** Submits a prompt and reads its turn to the end, answering every approval request with `decide`. */
export async function answeredTurn(
  conversation: Conversation,
  prompt: string,
  decide: (event: Event) => ReviewDecision = () => "denied",
): Promise<Event[]> {
  const turnId = await conversation.submit(textInput(prompt));
  const events: Event[] = [];
  for (;;) {
    const event = await conversation.nextEvent();
    events.push(event);
    if (event.msg.type === "exec_approval_request") {
      await conversation.submit({ type: "exec_approval", id: event.id, decision: decide(event) });
    }
    if (event.id === turnId && (event.msg.type === "task_complete" || event.msg.type === "turn_aborted")) return events;
  }
}

/** `last_agent_message` of a turn's closing `task_complete`. */
export const lastReply = (events: readonly Event[]): string | null | undefined =>
  (events.at(-1)?.msg as { last_agent_message?: string | null }).last_agent_message;

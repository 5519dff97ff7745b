// Shared by the runtime tests: throwaway homes, configs, managers that are always shut down, and turn helpers.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";
import {
  ConversationManager,
  createConfig,
  type Conversation,
  type ConversationConfig,
  type ConversationManagerOptions,
  type Event,
} from "../src/index.js";

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

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

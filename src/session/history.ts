// The conversation history held in memory by a session, and what of it the model may see.
import type { ResponseItem } from "../protocol/index.js";

export class ConversationHistory {
  private readonly items: ResponseItem[] = [];

  constructor(initial: readonly ResponseItem[] = []) {
    this.record(initial);
  }

  record(items: readonly ResponseItem[]): void {
    for (const item of items) if (item.type !== "other") this.items.push(item);
  }

  /** Replaces everything (after a compaction). */
  replace(items: readonly ResponseItem[]): void {
    this.items.length = 0;
    this.record(items);
  }

  contents(): readonly ResponseItem[] {
    return this.items;
  }

  /** Codex's prompt hygiene: no system messages, no ghost snapshots, and every call answered. */
  forPrompt(): ResponseItem[] {
    const answered = new Set<string>();
    for (const item of this.items) {
      if (item.type === "function_call_output" || item.type === "custom_tool_call_output") answered.add(item.call_id);
    }
    const prompt: ResponseItem[] = [];
    for (const item of this.items) {
      if (item.type === "ghost_snapshot") continue;
      if (item.type === "message" && item.role === "system") continue;
      prompt.push(item);
      if ((item.type === "function_call" || item.type === "custom_tool_call") && !answered.has(item.call_id)) {
        prompt.push({ type: "function_call_output", call_id: item.call_id, output: "aborted" });
      }
    }
    return prompt;
  }
}

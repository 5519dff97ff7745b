import { describe, expect, it } from "vitest";
import { type RolloutItem } from "../../src/protocol/rollout.js";
import { isPersistedRolloutItem } from "../../src/rollout/policy.js";
import { assistant, metaItem, ID_A } from "./helpers.js";

const event = (type: string, fields: Record<string, unknown> = {}): RolloutItem =>
  ({ type: "event_msg", payload: { type, ...fields } }) as RolloutItem;

describe("isPersistedRolloutItem", () => {
  it("always keeps session_meta, compacted and turn_context", () => {
    expect(isPersistedRolloutItem(metaItem(ID_A))).toBe(true);
    expect(isPersistedRolloutItem({ type: "compacted", payload: { message: "s" } })).toBe(true);
    expect(
      isPersistedRolloutItem({
        type: "turn_context",
        payload: {
          cwd: "/",
          approval_policy: "never",
          sandbox_policy: { mode: "read-only" },
          model: "m",
          summary: "auto",
        },
      }),
    ).toBe(true);
  });

  it("keeps known response items but not `other`", () => {
    expect(isPersistedRolloutItem(assistant("hi"))).toBe(true);
    const ghost = { type: "ghost_snapshot" as const, ghost_commit: { id: "g" } };
    expect(isPersistedRolloutItem({ type: "response_item", payload: ghost })).toBe(true);
    expect(isPersistedRolloutItem({ type: "response_item", payload: { type: "other", original_type: "x" } })).toBe(false);
  });

  it("keeps only the listed event types", () => {
    const kept = [
      "user_message",
      "agent_message",
      "agent_reasoning",
      "agent_reasoning_raw_content",
      "token_count",
      "entered_review_mode",
      "exited_review_mode",
      "undo_completed",
      "turn_aborted",
    ];
    const dropped = [
      "agent_message_delta",
      "exec_command_begin",
      "task_started",
      "session_configured",
      "item_completed",
      "thread_settings_applied",
    ];
    for (const type of kept) expect(isPersistedRolloutItem(event(type)), type).toBe(true);
    for (const type of dropped) expect(isPersistedRolloutItem(event(type)), type).toBe(false);
  });

  it("does not persist error events, with or without llmx's `code` (as Codex's policy)", () => {
    expect(isPersistedRolloutItem(event("error", { message: "boom" }))).toBe(false);
    expect(isPersistedRolloutItem(event("error", { message: "boom", code: "model_auth" }))).toBe(false);
  });

  it("never persists unknown line types", () => {
    expect(isPersistedRolloutItem({ type: "unknown", line_type: "world_state", payload: {} })).toBe(false);
  });
});

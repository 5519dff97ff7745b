// Which rollout items are written to disk (reference section 5.5, Codex `rollout/policy.rs`).
import type { RolloutItem } from "../protocol/rollout.js";

const PERSISTED_EVENT_TYPES: ReadonlySet<string> = new Set([
  "user_message",
  "agent_message",
  "agent_reasoning",
  "agent_reasoning_raw_content",
  "token_count",
  "entered_review_mode",
  "exited_review_mode",
  "undo_completed",
  "turn_aborted",
]);

export function isPersistedRolloutItem(item: RolloutItem): boolean {
  switch (item.type) {
    case "session_meta":
    case "compacted":
    case "turn_context":
      return true;
    case "response_item":
      return item.payload.type !== "other";
    case "event_msg":
      return PERSISTED_EVENT_TYPES.has(item.payload.type);
    case "unknown":
      return false;
  }
}

// Fork cut point: history strictly before the nth real user message (reference section 7).
import type { InitialHistory, RolloutItem } from "../protocol/rollout.js";
import { isUserMessage } from "./classify.js";

/** `n` is 0-based and counts only `response_item` messages that classify as user messages. */
export function truncateBeforeNthUserMessage(history: readonly RolloutItem[], n: number): InitialHistory {
  let seen = 0;
  for (const [index, item] of history.entries()) {
    if (item.type !== "response_item" || !isUserMessage(item.payload)) continue;
    if (seen++ < n) continue;
    return index === 0 ? { type: "new" } : { type: "forked", items: history.slice(0, index) };
  }
  return { type: "new" };
}

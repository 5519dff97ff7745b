import { describe, expect, it } from "vitest";
import { type RolloutItem } from "../../src/protocol/rollout.js";
import { truncateBeforeNthUserMessage } from "../../src/rollout/truncate.js";
import {
  agentsInstructions,
  assistant,
  environmentContext,
  eventItem,
  ID_A,
  message,
  metaItem,
  responseItem,
  user,
} from "./helpers.js";

describe("truncateBeforeNthUserMessage", () => {
  // Codex conversation_manager.rs `drops_from_last_user_only` (its user messages use output_text parts).
  it("drops the nth user message and everything after it, and starts fresh when n is past the end", () => {
    const items: RolloutItem[] = [
      responseItem(message("user", "u1", "output_text")),
      assistant("a1"),
      assistant("a2"),
      responseItem(message("user", "u2", "output_text")),
      assistant("a3"),
      responseItem({ type: "reasoning", id: "r1", summary: [{ type: "summary_text", text: "s" }], content: null }),
      responseItem({ type: "function_call", name: "tool", arguments: "{}", call_id: "c1" }),
      assistant("a4"),
    ];
    expect(truncateBeforeNthUserMessage(items, 1)).toEqual({ type: "forked", items: items.slice(0, 3) });
    expect(truncateBeforeNthUserMessage(items, 2)).toEqual({ type: "new" });
  });

  // Codex conversation_manager.rs `ignores_session_prefix_messages_when_truncating`.
  it("does not count the initial context as user messages", () => {
    const initialContext: RolloutItem[] = [
      responseItem(message("developer", "developer instructions")),
      responseItem(agentsInstructions()),
      responseItem(environmentContext()),
    ];
    const conversation = [user("feature request"), assistant("ack"), user("second question"), assistant("answer")];
    const items = [...initialContext, ...conversation];
    expect(truncateBeforeNthUserMessage(items, 1)).toEqual({ type: "forked", items: items.slice(0, 5) });
  });

  it("keeps only the prefix before the first user message when n is 0", () => {
    const items = [metaItem(ID_A), responseItem(environmentContext()), user("hi"), assistant("hello")];
    expect(truncateBeforeNthUserMessage(items, 0)).toEqual({ type: "forked", items: items.slice(0, 2) });
  });

  it("starts fresh when the cut leaves nothing", () => {
    expect(truncateBeforeNthUserMessage([user("hi"), assistant("hello")], 0)).toEqual({ type: "new" });
    expect(truncateBeforeNthUserMessage([], 0)).toEqual({ type: "new" });
  });

  it("starts fresh when there are no more than n user messages", () => {
    const items = [metaItem(ID_A), user("one"), assistant("a"), user("two")];
    expect(truncateBeforeNthUserMessage(items, 2)).toEqual({ type: "new" });
    expect(truncateBeforeNthUserMessage(items, 5)).toEqual({ type: "new" });
  });

  it("counts response items only, never user_message events", () => {
    const items = [
      metaItem(ID_A),
      eventItem({ type: "user_message", message: "one", images: [] }),
      user("one"),
      eventItem({ type: "user_message", message: "two", images: [] }),
      assistant("a"),
      user("two"),
    ];
    expect(truncateBeforeNthUserMessage(items, 1)).toEqual({ type: "forked", items: items.slice(0, 5) });
  });
});

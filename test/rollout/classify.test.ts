import { describe, expect, it } from "vitest";
import { type MessageItem } from "../../src/protocol/items.js";
import { isUserMessage, userMessageText } from "../../src/rollout/classify.js";
import { agentsInstructions, assistantMsg, environmentContext, message, userMsg } from "./helpers.js";

const parts = (...content: MessageItem["content"]): MessageItem => ({ type: "message", role: "user", content });

describe("isUserMessage", () => {
  it.each<[string, MessageItem]>([
    ["plain text", userMsg("fix the bug")],
    ["empty content", parts()],
    ["output_text that is not context", message("user", "u1", "output_text")],
    [
      "instructions prefix among several parts",
      parts({ type: "input_text", text: "<user_instructions>x" }, { type: "input_text", text: "hi" }),
    ],
    ["instructions prefix after whitespace", userMsg("  # AGENTS.md instructions for /repo")],
    ["an image", parts({ type: "input_image", image_url: "data:image/png;base64,AA" })],
    ["a review exit note", userMsg("<user_action>\n  <context>review</context>\n</user_action>")],
  ])("counts %s", (_name, item) => {
    expect(isUserMessage(item)).toBe(true);
  });

  it.each<[string, MessageItem]>([
    ["AGENTS.md instructions", agentsInstructions()],
    ["legacy user instructions", userMsg("<user_instructions>\nbe terse\n</user_instructions>")],
    ["environment context", environmentContext()],
    ["indented upper-case environment context", userMsg("\n  <ENVIRONMENT_CONTEXT><cwd>/</cwd></ENVIRONMENT_CONTEXT>")],
    ["a user shell command record", userMsg("<user_shell_command>ls</user_shell_command>")],
    [
      "context as a second part",
      parts({ type: "input_text", text: "hi" }, { type: "input_text", text: "<environment_context>x</environment_context>" }),
    ],
    ["context in an output_text part", message("user", "<environment_context>x", "output_text")],
    ["a skill", userMsg("<skill>\n<name>x</name>\n</skill>")],
    ["an aborted-turn note", userMsg("<turn_aborted>interrupted</turn_aborted>")],
    ["a subagent notification", userMsg("<subagent_notification>done</subagent_notification>")],
    ["an assistant message", assistantMsg("hello")],
    ["a developer message", message("developer", "rules")],
    ["a system message", message("system", "rules")],
  ])("does not count %s", (_name, item) => {
    expect(isUserMessage(item)).toBe(false);
  });

  it("does not count non-message items", () => {
    expect(isUserMessage({ type: "function_call", name: "shell", arguments: "{}", call_id: "c1" })).toBe(false);
    expect(isUserMessage({ type: "other" })).toBe(false);
  });
});

describe("userMessageText", () => {
  it("concatenates input_text parts without a separator", () => {
    const item = parts(
      { type: "input_text", text: "one" },
      { type: "input_image", image_url: "x" },
      { type: "output_text", text: "ignored" },
      { type: "input_text", text: "two" },
    );
    expect(userMessageText(item)).toBe("onetwo");
  });
});

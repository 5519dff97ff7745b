// Which `user` messages are real user turns rather than harness-injected context (reference section 6.1).
import type { MessageItem, ResponseItem } from "../protocol/items.js";

const INSTRUCTION_PREFIXES = ["# AGENTS.md instructions for ", "<user_instructions>"];
/** Compared after trimming leading whitespace and ASCII-lowercasing; the last three come from later upstream. */
const CONTEXT_MARKERS = [
  "<environment_context>",
  "<user_shell_command>",
  "<skill>",
  "<turn_aborted>",
  "<subagent_notification>",
];

const asciiLower = (text: string): string => text.replace(/[A-Z]/g, (c) => c.toLowerCase());
const startsWithMarker = (text: string, markers: readonly string[]): boolean => {
  const normalized = asciiLower(text.trimStart());
  return markers.some((marker) => normalized.startsWith(marker));
};

export function isUserMessage(item: ResponseItem): boolean {
  if (item.type !== "message" || item.role !== "user") return false;
  const { content } = item;
  const [only] = content;
  if (content.length === 1 && only?.type === "input_text") {
    if (INSTRUCTION_PREFIXES.some((prefix) => only.text.startsWith(prefix))) return false;
  }
  return !content.some(
    (part) =>
      (part.type === "input_text" && startsWithMarker(part.text, CONTEXT_MARKERS)) ||
      (part.type === "output_text" && startsWithMarker(part.text, ["<environment_context>"])),
  );
}

export function userMessageText(item: MessageItem): string {
  return item.content.map((part) => (part.type === "input_text" ? part.text : "")).join("");
}

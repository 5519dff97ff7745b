// Conversation history as Chat Completions messages: text messages, assistant `tool_calls` from function
// calls, and `role:"tool"` messages from their outputs. Reasoning and web searches have no Chat form.
import type { ContentItem, ResponseItem } from "../protocol/index.js";
import type { ToolSpec } from "./types.js";
import { toCodexItem } from "./wire-items.js";

export type ChatToolCall = { id: string; type: "function"; function: { name: string; arguments: string } };
type ChatPart = { type: "text"; text: string } | { type: "image_url"; image_url: { url: string } };

export type ChatMessage = {
  role: string;
  content: string | ChatPart[] | null;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
};

export function toChatMessages(instructions: string, input: readonly ResponseItem[]): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: "system", content: instructions }];
  const addToolCall = (call: ChatToolCall): void => {
    const last = messages.at(-1);
    // Calls made in one response follow its text: they belong on that same assistant message.
    if (last?.role === "assistant") (last.tool_calls ??= []).push(call);
    else messages.push({ role: "assistant", content: null, tool_calls: [call] });
  };

  for (const original of input) {
    const item = toCodexItem(original);
    switch (item?.type) {
      case "message":
        // Local servers (Ollama, LM Studio) know system/user/assistant/tool only.
        messages.push({ role: item.role === "developer" ? "system" : item.role, content: chatContent(item.content) });
        break;
      case "function_call":
        addToolCall(toolCall(item.call_id, item.name, item.arguments));
        break;
      case "custom_tool_call":
        addToolCall(toolCall(item.call_id, item.name, item.input));
        break;
      case "local_shell_call":
        addToolCall(toolCall(item.call_id ?? "", "local_shell", JSON.stringify(item.action)));
        break;
      case "function_call_output":
      case "custom_tool_call_output":
        messages.push({ role: "tool", tool_call_id: item.call_id, content: outputText(item.output) });
        break;
      default:
        break;
    }
  }
  return messages;
}

export function toChatTools(tools: readonly ToolSpec[]): unknown[] {
  return tools.map(({ name, description, parameters }) => ({ type: "function", function: { name, description, parameters } }));
}

function toolCall(id: string, name: string, args: string): ChatToolCall {
  return { id, type: "function", function: { name, arguments: args } };
}

function chatContent(content: readonly ContentItem[]): string | ChatPart[] {
  const parts = content.map((part): ChatPart =>
    part.type === "input_image" ? { type: "image_url", image_url: { url: part.image_url } } : { type: "text", text: part.text },
  );
  return parts.some((part) => part.type === "image_url") ? parts : chatText(parts);
}

function chatText(parts: readonly ChatPart[]): string {
  return parts.map((part) => (part.type === "text" ? part.text : "")).join("");
}

function outputText(output: string | readonly { type: string; [key: string]: unknown }[]): string {
  if (typeof output === "string") return output;
  return output.map((part) => (typeof part.text === "string" ? part.text : "")).join("");
}

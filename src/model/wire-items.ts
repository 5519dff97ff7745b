// Response items reduced to the fields Codex serialises (reference section 4): no `id`s (with `store:false`
// the server cannot resolve them), no server-only fields (`status` on messages, `annotations`), nothing
// unknown. Used for the Responses input and for items the model returns, so history holds the same shape.
import type { ContentItem, ResponseItem } from "../protocol/index.js";

/** The item as Codex would send or record it, or null for items never sent (`other`, ghost snapshots). */
export function toCodexItem(item: ResponseItem): Exclude<ResponseItem, { type: "other" }> | null {
  switch (item.type) {
    case "message":
      return { type: "message", role: item.role, content: item.content.map(toContentItem) };
    case "reasoning": {
      const reasoning: ResponseItem = {
        type: "reasoning",
        summary: item.summary.map(({ type, text }) => ({ type, text })),
        encrypted_content: item.encrypted_content ?? null,
      };
      const content = item.content?.map(({ type, text }) => ({ type, text }));
      if (content === undefined || content === null) reasoning.content = null;
      else if (content.some((part) => part.type === "reasoning_text")) reasoning.content = content;
      return reasoning;
    }
    case "function_call":
      return { type: "function_call", name: item.name, arguments: item.arguments, call_id: item.call_id };
    case "function_call_output":
      return { type: "function_call_output", call_id: item.call_id, output: item.output };
    case "local_shell_call":
      return { type: "local_shell_call", call_id: item.call_id ?? null, status: item.status, action: item.action };
    case "custom_tool_call": {
      const { call_id, name, input, status } = item;
      return status === undefined
        ? { type: "custom_tool_call", call_id, name, input }
        : { type: "custom_tool_call", status, call_id, name, input };
    }
    case "custom_tool_call_output":
      return { type: "custom_tool_call_output", call_id: item.call_id, output: item.output };
    case "web_search_call": {
      const call: ResponseItem = { type: "web_search_call" };
      if (item.status !== undefined) call.status = item.status;
      if (item.action !== undefined) call.action = item.action;
      return call;
    }
    case "ghost_snapshot":
    case "other":
      return null;
  }
}

function toContentItem(part: ContentItem): ContentItem {
  switch (part.type) {
    case "input_text":
    case "output_text":
      return { type: part.type, text: part.text };
    case "input_image":
      return { type: "input_image", image_url: part.image_url };
  }
}

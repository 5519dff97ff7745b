// Response items (section 4) without zod: their types and the decoder a worker uses for the model's output.
// items.ts keeps zod schemas of the same items for the main thread, and its `ResponseItem` schema decodes with
// parseResponseItem, so both sides accept the same items.
// Items are loose objects so that fields written by newer Codex (ids, metadata) survive a round trip.
import { ShapeError, array, type JsonObject, isJsonObject, nullish, object, optional, shapeError, string } from "./checks.js";

export type ContentItem =
  | { [key: string]: unknown; type: "input_text"; text: string }
  | { [key: string]: unknown; type: "input_image"; image_url: string }
  | { [key: string]: unknown; type: "output_text"; text: string };

export type MessageItem = {
  [key: string]: unknown;
  type: "message";
  role: string;
  content: ContentItem[];
  id?: string | undefined;
};

/** A reasoning summary or content part. */
type ReasoningPart = { [key: string]: unknown; type: string; text: string };

export type ReasoningItem = {
  [key: string]: unknown;
  type: "reasoning";
  summary: ReasoningPart[];
  content?: ReasoningPart[] | null | undefined;
  encrypted_content?: string | null | undefined;
};

export type FunctionCallItem = { [key: string]: unknown; type: "function_call"; name: string; arguments: string; call_id: string };

/** A part of a tool's output given as content (text, image, ...). */
type OutputPart = { [key: string]: unknown; type: string };

export type FunctionCallOutputItem = {
  [key: string]: unknown;
  type: "function_call_output";
  call_id: string;
  output: string | OutputPart[];
};

export type LocalShellCallItem = {
  [key: string]: unknown;
  type: "local_shell_call";
  call_id?: string | null | undefined;
  status: string;
  action: { [key: string]: unknown; type: string };
};

export type CustomToolCallItem = {
  [key: string]: unknown;
  type: "custom_tool_call";
  call_id: string;
  name: string;
  input: string;
  status?: string | undefined;
};

export type CustomToolCallOutputItem = {
  [key: string]: unknown;
  type: "custom_tool_call_output";
  call_id: string;
  output: string | OutputPart[];
};

export type WebSearchCallItem = {
  [key: string]: unknown;
  type: "web_search_call";
  status?: string | undefined;
  action?: { [key: string]: unknown; type: string } | undefined;
};

export type GhostSnapshotItem = { [key: string]: unknown; type: "ghost_snapshot"; ghost_commit: { [key: string]: unknown; id: string } };

/** An item of a `type` this port does not know: read, never persisted or sent. */
export type OtherItem = { type: "other"; original_type?: string };

export type ResponseItem =
  | MessageItem
  | ReasoningItem
  | FunctionCallItem
  | FunctionCallOutputItem
  | LocalShellCallItem
  | CustomToolCallItem
  | CustomToolCallOutputItem
  | WebSearchCallItem
  | GhostSnapshotItem
  | OtherItem;

/**
 * Decodes a response item as Codex does: a known `type` must match its shape (else the error is returned, naming
 * the field), an unknown `type` becomes `{type: "other"}`. A known item is returned as given, unknown fields
 * included.
 */
export function parseResponseItem(value: unknown): { ok: true; item: ResponseItem } | { ok: false; error: string } {
  const type = isJsonObject(value) ? value.type : undefined;
  if (!isJsonObject(value) || typeof type !== "string") {
    return { ok: false, error: "response item is not an object with a string `type`" };
  }
  try {
    return checkKnownItem(value)
      ? { ok: true, item: value as ResponseItem }
      : { ok: true, item: { type: "other", original_type: type } };
  } catch (error) {
    if (error instanceof ShapeError) return { ok: false, error: error.message };
    throw error;
  }
}

/** Throws a ShapeError when a known item does not match its shape; false for a type it does not know. */
function checkKnownItem(item: JsonObject): boolean {
  switch (item.type) {
    case "message":
      string(item.role, "role");
      array(item.content, "content").forEach((part, index) => checkContentItem(part, `content[${index}]`));
      optional(item.id, "id", string);
      return true;
    case "reasoning":
      checkReasoningParts(item.summary, "summary");
      nullish(item.content, "content", checkReasoningParts);
      nullish(item.encrypted_content, "encrypted_content", string);
      return true;
    case "function_call":
      string(item.name, "name");
      string(item.arguments, "arguments");
      string(item.call_id, "call_id");
      return true;
    case "function_call_output":
    case "custom_tool_call_output":
      string(item.call_id, "call_id");
      checkOutput(item.output, "output");
      return true;
    case "local_shell_call":
      nullish(item.call_id, "call_id", string);
      string(item.status, "status");
      checkTyped(item.action, "action");
      return true;
    case "custom_tool_call":
      string(item.call_id, "call_id");
      string(item.name, "name");
      string(item.input, "input");
      optional(item.status, "status", string);
      return true;
    case "web_search_call":
      optional(item.status, "status", string);
      optional(item.action, "action", checkTyped);
      return true;
    case "ghost_snapshot":
      string(object(item.ghost_commit, "ghost_commit").id, "ghost_commit.id");
      return true;
    default:
      return false;
  }
}

function checkContentItem(value: unknown, at: string): void {
  const part = object(value, at);
  switch (part.type) {
    case "input_text":
    case "output_text":
      string(part.text, `${at}.text`);
      return;
    case "input_image":
      string(part.image_url, `${at}.image_url`);
      return;
    default:
      throw shapeError(`${at}.type`, '"input_text", "input_image" or "output_text"', part.type);
  }
}

function checkReasoningParts(value: unknown, at: string): void {
  array(value, at).forEach((element, index) => {
    const part = checkTyped(element, `${at}[${index}]`);
    string(part.text, `${at}[${index}].text`);
  });
}

/** An object with a string `type`. */
function checkTyped(value: unknown, at: string): JsonObject {
  const typed = object(value, at);
  string(typed.type, `${at}.type`);
  return typed;
}

/** A tool's output: text, or a list of content parts. */
function checkOutput(value: unknown, at: string): void {
  if (typeof value === "string") return;
  if (!Array.isArray(value)) throw shapeError(at, "a string or an array", value);
  value.forEach((part, index) => checkTyped(part, `${at}[${index}]`));
}

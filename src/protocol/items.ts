// Conversation items: what the user sends (UserInput) and what history holds (ResponseItem, section 4), as zod
// schemas for the main thread. The item types and their decoder live in response-item.ts, without zod, for
// workers; the schemas here describe the same items (test/protocol/response-item.test.ts holds them to it).
// Items are loose objects so that fields written by newer Codex (ids, metadata) survive a round trip.
import * as z from "zod";
import {
  parseResponseItem,
  type ContentItem as ContentItemType,
  type FunctionCallItem as FunctionCallItemType,
  type FunctionCallOutputItem as FunctionCallOutputItemType,
  type MessageItem as MessageItemType,
  type ReasoningItem as ReasoningItemType,
  type ResponseItem as ResponseItemType,
} from "./response-item.js";

export { parseResponseItem, type OtherItem } from "./response-item.js";

export const UserInput = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text"), text: z.string() }),
  z.object({ type: z.literal("image"), image_url: z.string() }),
  z.object({ type: z.literal("local_image"), path: z.string() }),
]);
export type UserInput = z.infer<typeof UserInput>;

export const ContentItem = z.union([
  z.looseObject({ type: z.literal("input_text"), text: z.string() }),
  z.looseObject({ type: z.literal("input_image"), image_url: z.string() }),
  z.looseObject({ type: z.literal("output_text"), text: z.string() }),
]);
export type ContentItem = ContentItemType;

export const MessageItem = z.looseObject({
  type: z.literal("message"),
  role: z.string(),
  content: z.array(ContentItem),
  id: z.string().optional(),
});
export type MessageItem = MessageItemType;

export const ReasoningItem = z.looseObject({
  type: z.literal("reasoning"),
  summary: z.array(z.looseObject({ type: z.string(), text: z.string() })),
  content: z.array(z.looseObject({ type: z.string(), text: z.string() })).nullable().optional(),
  encrypted_content: z.string().nullable().optional(),
});
export type ReasoningItem = ReasoningItemType;

export const FunctionCallItem = z.looseObject({
  type: z.literal("function_call"),
  name: z.string(),
  arguments: z.string(),
  call_id: z.string(),
});
export type FunctionCallItem = FunctionCallItemType;

export const FunctionCallOutputContent = z.looseObject({ type: z.string() });

export const FunctionCallOutputItem = z.looseObject({
  type: z.literal("function_call_output"),
  call_id: z.string(),
  output: z.union([z.string(), z.array(FunctionCallOutputContent)]),
});
export type FunctionCallOutputItem = FunctionCallOutputItemType;

export const LocalShellCallItem = z.looseObject({
  type: z.literal("local_shell_call"),
  call_id: z.string().nullable().optional(),
  status: z.string(),
  action: z.looseObject({ type: z.string() }),
});

export const CustomToolCallItem = z.looseObject({
  type: z.literal("custom_tool_call"),
  call_id: z.string(),
  name: z.string(),
  input: z.string(),
  status: z.string().optional(),
});

export const CustomToolCallOutputItem = z.looseObject({
  type: z.literal("custom_tool_call_output"),
  call_id: z.string(),
  output: z.union([z.string(), z.array(FunctionCallOutputContent)]),
});

export const WebSearchCallItem = z.looseObject({
  type: z.literal("web_search_call"),
  status: z.string().optional(),
  action: z.looseObject({ type: z.string() }).optional(),
});

export const GhostSnapshotItem = z.looseObject({
  type: z.literal("ghost_snapshot"),
  ghost_commit: z.looseObject({ id: z.string() }),
});

/** Known variants are checked; any other `type` reads as an `other` item that is never persisted or sent. */
export const KnownResponseItem = z.discriminatedUnion("type", [
  MessageItem,
  ReasoningItem,
  FunctionCallItem,
  FunctionCallOutputItem,
  LocalShellCallItem,
  CustomToolCallItem,
  CustomToolCallOutputItem,
  WebSearchCallItem,
  GhostSnapshotItem,
]);

export const OtherResponseItem = z.looseObject({ type: z.string() });

export type ResponseItem = ResponseItemType;

/** Schema form of {@link parseResponseItem}, for embedding in larger schemas. */
export const ResponseItem = z.unknown().transform((value, ctx): ResponseItem => {
  const result = parseResponseItem(value);
  if (result.ok) return result.item;
  ctx.addIssue({ code: "custom", message: result.error });
  return z.NEVER;
});

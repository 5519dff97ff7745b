// The provider interface every model client implements, inside the worker. Shaped after the Responses API
// stream: output items open, stream text deltas, and close as finished ResponseItems (messages, reasoning,
// function calls); the response then completes with its usage.
import type { FunctionCallItem, ResponseItem, TokenUsage } from "../protocol/index.js";

export type ToolSpec = {
  type: "function";
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
};

export type ModelRequest = {
  model: string;
  /** The conversation id: sent as the prompt cache key, as Codex does. */
  conversationId: string;
  reasoningEffort?: string | undefined;
  instructions: string;
  /** History as the model sees it (already cleaned of items it must not see). */
  input: readonly ResponseItem[];
  tools: readonly ToolSpec[];
  /** A JSON schema the final answer must follow (`--output-schema`); sent as the provider's structured output. */
  outputSchema?: unknown;
};

export type ModelStreamEvent =
  | { type: "output_item_added"; itemId: string; kind: "message" | "reasoning" | "function_call" | "other" }
  | { type: "output_text_delta"; itemId: string; delta: string }
  | { type: "reasoning_summary_delta"; itemId: string; delta: string }
  | { type: "output_item_done"; itemId: string; item: ResponseItem }
  | { type: "completed"; responseId: string; usage: TokenUsage | undefined }
  /**
   * The request or its stream failed in a way worth retrying; the client is about to try again (attempt of
   * max). Whatever this response streamed so far is void: the retry streams the whole response again.
   */
  | { type: "retrying"; attempt: number; max: number; message: string };

export interface ModelClient {
  /** The context window of `model`, or null when unknown. */
  contextWindow(model: string): number | null;
  /** Streams one response. Aborting `signal` ends the stream promptly with an AbortError. */
  stream(request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelStreamEvent>;
  /** Loads what the first `stream` would load (a client that loads its code lazily); never rejects. */
  preload?(): Promise<void>;
}

export function isFunctionCall(item: ResponseItem): item is FunctionCallItem {
  return item.type === "function_call";
}

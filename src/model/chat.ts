// The Chat Completions client (`wire_api = "chat"`): history as chat messages, and streamed
// `chat.completion.chunk`s accumulated into the same items the Responses API would produce.
import type { EventSourceMessage } from "eventsource-parser";
import { ModelResponseFailedError, ModelStreamError, StreamInterruptedError } from "../errors.js";
import { ShapeError, arrayOf, nullish, number, object, optional, string, stringOrNumber } from "../protocol/checks.js";
import type { ResponseItem, TokenUsage } from "../protocol/index.js";
import { toChatMessages, toChatTools } from "./chat-messages.js";
import type { HttpClientOptions } from "./http.js";
import type { ModelProviderInfo } from "./provider-info.js";
import { OUTPUT_SCHEMA_NAME } from "./responses.js";
import type { ModelClient, ModelRequest, ModelStreamEvent } from "./types.js";
import { createWireClient } from "./wire-client.js";

export function createChatClient(info: ModelProviderInfo, options: HttpClientOptions = {}): ModelClient {
  let responses = 0;
  return createWireClient(info, options, {
    path: "/chat/completions",
    body: chatRequestBody,
    decode: (messages) => {
      responses += 1;
      return decodeChatStream(messages, info.name, `chatcmpl-${responses}`);
    },
  });
}

export function chatRequestBody(request: ModelRequest): Record<string, unknown> {
  return {
    model: request.model,
    messages: toChatMessages(request.instructions, request.input),
    // Several servers reject an empty `tools` array.
    ...(request.tools.length === 0 ? {} : { tools: toChatTools(request.tools) }),
    stream: true,
    stream_options: { include_usage: true },
    // Chat Completions' form of structured output, with the name and strictness Codex uses on the Responses API.
    ...(request.outputSchema === undefined
      ? {}
      : { response_format: { type: "json_schema", json_schema: { name: OUTPUT_SCHEMA_NAME, schema: request.outputSchema, strict: true } } }),
  };
}

/** The fields of a `chat.completion.chunk` this client reads; other fields are ignored. */
type Chunk = {
  id: string | undefined;
  choices: Choice[] | null | undefined;
  usage: TokenUsage | null | undefined;
  error: { message: string | null | undefined; code: string | number | null | undefined } | null | undefined;
};
type Choice = { delta: Delta | null | undefined; finish_reason: string | null | undefined };
type Delta = { content: string | null | undefined; tool_calls: ToolCallDelta[] | null | undefined };
type ToolCallDelta = {
  index: number | undefined;
  id: string | null | undefined;
  function: { name: string | null | undefined; arguments: string | null | undefined } | null | undefined;
};

function readChunk(value: unknown): Chunk {
  const json = object(value, "");
  return {
    id: optional(json.id, "id", string),
    choices: nullish(json.choices, "choices", (choices, at) => arrayOf(choices, at, readChoice)),
    usage: nullish(json.usage, "usage", tokenUsage),
    error: nullish(json.error, "error", readError),
  };
}

function readError(value: unknown, at: string): NonNullable<Chunk["error"]> {
  const json = object(value, at);
  return { message: nullish(json.message, `${at}.message`, string), code: nullish(json.code, `${at}.code`, stringOrNumber) };
}

function readChoice(value: unknown, at: string): Choice {
  const json = object(value, at);
  return { delta: nullish(json.delta, `${at}.delta`, readDelta), finish_reason: nullish(json.finish_reason, `${at}.finish_reason`, string) };
}

function readDelta(value: unknown, at: string): Delta {
  const json = object(value, at);
  return {
    content: nullish(json.content, `${at}.content`, string),
    tool_calls: nullish(json.tool_calls, `${at}.tool_calls`, (calls, callsAt) => arrayOf(calls, callsAt, readToolCallDelta)),
  };
}

function readToolCallDelta(value: unknown, at: string): ToolCallDelta {
  const json = object(value, at);
  return {
    index: optional(json.index, `${at}.index`, number),
    id: nullish(json.id, `${at}.id`, string),
    function: nullish(json.function, `${at}.function`, readFunctionDelta),
  };
}

function readFunctionDelta(value: unknown, at: string): NonNullable<ToolCallDelta["function"]> {
  const json = object(value, at);
  return { name: nullish(json.name, `${at}.name`, string), arguments: nullish(json.arguments, `${at}.arguments`, string) };
}

function tokenUsage(value: unknown, at: string): TokenUsage {
  const usage = object(value, at);
  const promptDetails = nullish(usage.prompt_tokens_details, `${at}.prompt_tokens_details`, object);
  const completionDetails = nullish(usage.completion_tokens_details, `${at}.completion_tokens_details`, object);
  const input = number(usage.prompt_tokens, `${at}.prompt_tokens`);
  const output = number(usage.completion_tokens, `${at}.completion_tokens`);
  return {
    input_tokens: input,
    cached_input_tokens: nullish(promptDetails?.cached_tokens, `${at}.prompt_tokens_details.cached_tokens`, number) ?? 0,
    output_tokens: output,
    reasoning_output_tokens:
      nullish(completionDetails?.reasoning_tokens, `${at}.completion_tokens_details.reasoning_tokens`, number) ?? 0,
    total_tokens: optional(usage.total_tokens, `${at}.total_tokens`, number) ?? input + output,
  };
}

type PendingCall = { itemId: string; callId: string; name: string; arguments: string };

export async function* decodeChatStream(
  messages: AsyncIterable<EventSourceMessage>,
  provider: string,
  fallbackId: string,
): AsyncGenerator<ModelStreamEvent> {
  let responseId: string | undefined;
  let text: string | undefined;
  let finished = false;
  let usage: TokenUsage | undefined;
  const calls = new Map<number, PendingCall>();
  const id = (): string => responseId ?? fallbackId;

  const finish = function* (): Generator<ModelStreamEvent> {
    if (text !== undefined) {
      const item: ResponseItem = { type: "message", role: "assistant", content: [{ type: "output_text", text }] };
      yield { type: "output_item_done", itemId: `${id()}-msg`, item };
    }
    for (const [, call] of [...calls].sort(([a], [b]) => a - b)) {
      const item: ResponseItem = { type: "function_call", name: call.name, arguments: call.arguments, call_id: call.callId };
      yield { type: "output_item_done", itemId: call.itemId, item };
    }
    yield { type: "completed", responseId: id(), usage };
  };

  for await (const message of messages) {
    if (message.data.trim() === "[DONE]") return yield* finish();
    const chunk = parseChunk(message.data, provider);
    if (chunk.error) {
      const code = chunk.error.code == null ? undefined : String(chunk.error.code);
      throw new ModelResponseFailedError(provider, chunk.error.message || "chat completion failed", code);
    }
    responseId ??= chunk.id;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices ?? []) {
      if (choice.finish_reason) finished = true;
      const content = choice.delta?.content;
      if (content) {
        if (text === undefined) {
          text = "";
          yield { type: "output_item_added", itemId: `${id()}-msg`, kind: "message" };
        }
        text += content;
        yield { type: "output_text_delta", itemId: `${id()}-msg`, delta: content };
      }
      for (const [position, fragment] of (choice.delta?.tool_calls ?? []).entries()) {
        const index = fragment.index ?? position;
        let call = calls.get(index);
        if (call === undefined) {
          const itemId = `${id()}-call-${index}`;
          call = { itemId, callId: fragment.id ?? itemId, name: "", arguments: "" };
          calls.set(index, call);
          yield { type: "output_item_added", itemId, kind: "function_call" };
        }
        if (fragment.id) call.callId = fragment.id;
        call.name += fragment.function?.name ?? "";
        call.arguments += fragment.function?.arguments ?? "";
      }
    }
  }
  // Some servers close the stream after the finish reason without a `[DONE]`.
  if (finished) return yield* finish();
  throw new StreamInterruptedError("stream closed before the completion finished");
}

function parseChunk(data: string, provider: string): Chunk {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new ModelStreamError(provider, `${provider} sent an SSE event that is not JSON: ${data.slice(0, 200)}`);
  }
  try {
    return readChunk(json);
  } catch (error) {
    if (!(error instanceof ShapeError)) throw error;
    throw new ModelStreamError(provider, `malformed chat completion chunk from ${provider}: ${error.message}`);
  }
}

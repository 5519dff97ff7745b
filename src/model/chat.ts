// The Chat Completions client (`wire_api = "chat"`): history as chat messages, and streamed
// `chat.completion.chunk`s accumulated into the same items the Responses API would produce.
import type { EventSourceMessage } from "eventsource-parser";
import * as z from "zod";
import { ModelResponseFailedError, ModelStreamError, StreamInterruptedError } from "../errors.js";
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

const ToolCallDelta = z.looseObject({
  index: z.number().optional(),
  id: z.string().nullish(),
  function: z.looseObject({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});
const Usage = z.looseObject({
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  total_tokens: z.number().optional(),
  prompt_tokens_details: z.looseObject({ cached_tokens: z.number().nullish() }).nullish(),
  completion_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish() }).nullish(),
});
const Chunk = z.looseObject({
  id: z.string().optional(),
  choices: z
    .array(
      z.looseObject({
        delta: z.looseObject({ content: z.string().nullish(), tool_calls: z.array(ToolCallDelta).nullish() }).nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: Usage.nullish(),
  error: z.looseObject({ message: z.string().nullish(), code: z.union([z.string(), z.number()]).nullish() }).nullish(),
});

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
    if (chunk.usage) usage = toTokenUsage(chunk.usage);
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

function parseChunk(data: string, provider: string): z.infer<typeof Chunk> {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new ModelStreamError(provider, `${provider} sent an SSE event that is not JSON: ${data.slice(0, 200)}`);
  }
  const parsed = Chunk.safeParse(json);
  if (parsed.success) return parsed.data;
  throw new ModelStreamError(provider, `malformed chat completion chunk from ${provider}: ${z.prettifyError(parsed.error)}`);
}

function toTokenUsage(usage: z.infer<typeof Usage>): TokenUsage {
  return {
    input_tokens: usage.prompt_tokens,
    cached_input_tokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
    output_tokens: usage.completion_tokens,
    reasoning_output_tokens: usage.completion_tokens_details?.reasoning_tokens ?? 0,
    total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
  };
}

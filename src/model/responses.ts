// The OpenAI Responses API client (`wire_api = "responses"`): builds the request as Codex does and maps the
// `response.*` SSE events onto ModelStreamEvents.
import type { EventSourceMessage } from "eventsource-parser";
import * as z from "zod";
import {
  ModelResponseFailedError,
  ModelResponseIncompleteError,
  ModelStreamError,
  StreamInterruptedError,
} from "../errors.js";
import type { TokenUsage } from "../protocol/events.js";
import { parseResponseItem, type ResponseItem } from "../protocol/items.js";
import type { HttpClientOptions } from "./http.js";
import type { ModelProviderInfo } from "./provider-info.js";
import type { ModelClient, ModelRequest, ModelStreamEvent } from "./types.js";
import { createWireClient } from "./wire-client.js";
import { toCodexItem } from "./wire-items.js";

export function createResponsesClient(info: ModelProviderInfo, options: HttpClientOptions = {}): ModelClient {
  return createWireClient(info, options, {
    path: "/responses",
    body: responsesRequestBody,
    decode: (messages) => decodeResponsesStream(messages, info.name),
  });
}

/** The name Codex gives an `--output-schema` schema on the wire. */
export const OUTPUT_SCHEMA_NAME = "codex_output_schema";

/**
 * The request body, field for field as Codex builds it (minus Codex's `client_metadata`, and `text` only when
 * an output schema is given: `text.format` as Codex sends it, strict).
 */
export function responsesRequestBody(request: ModelRequest): Record<string, unknown> {
  const effort = request.reasoningEffort;
  return {
    model: request.model,
    instructions: request.instructions,
    input: request.input.map(toCodexItem).filter((item) => item !== null),
    tools: request.tools.map(({ type, name, description, parameters }) => ({ type, name, description, strict: false, parameters })),
    tool_choice: "auto",
    parallel_tool_calls: false,
    ...(effort === undefined ? {} : { reasoning: { effort, summary: "auto" } }),
    store: false,
    stream: true,
    // With store:false, reasoning can only be carried to the next request encrypted.
    include: effort === undefined ? [] : ["reasoning.encrypted_content"],
    prompt_cache_key: request.conversationId,
    ...(request.outputSchema === undefined
      ? {}
      : { text: { format: { type: "json_schema", name: OUTPUT_SCHEMA_NAME, schema: request.outputSchema, strict: true } } }),
  };
}

const Envelope = z.looseObject({ type: z.string() });
const ItemEvent = z.looseObject({
  output_index: z.number().optional(),
  item: z.looseObject({ type: z.string(), id: z.string().nullish() }),
});
const DeltaEvent = z.looseObject({ item_id: z.string(), delta: z.string() });
const Usage = z.looseObject({
  input_tokens: z.number(),
  input_tokens_details: z.looseObject({ cached_tokens: z.number().nullish() }).nullish(),
  output_tokens: z.number(),
  output_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish() }).nullish(),
  total_tokens: z.number(),
});
const CompletedEvent = z.looseObject({ response: z.looseObject({ id: z.string(), usage: Usage.nullish() }) });
const ServerError = z.looseObject({ code: z.string().nullish(), message: z.string().nullish() });
const FailedEvent = z.looseObject({ response: z.looseObject({ error: ServerError.nullish() }) });
const IncompleteEvent = z.looseObject({
  response: z.looseObject({ incomplete_details: z.looseObject({ reason: z.string().nullish() }).nullish() }),
});

/** `response.failed` codes worth another attempt: the server's trouble, not the request's. */
const RETRYABLE_FAILURE_CODES = new Set(["rate_limit_exceeded", "server_error", "server_is_overloaded", "slow_down"]);

export async function* decodeResponsesStream(
  messages: AsyncIterable<EventSourceMessage>,
  provider: string,
): AsyncGenerator<ModelStreamEvent> {
  const opened = new Set<string>();
  const idsByIndex = new Map<number, string>();
  const parse = <S extends z.ZodType>(schema: S, value: unknown, type: string): z.infer<S> => {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    throw new ModelStreamError(provider, `malformed ${type} event from ${provider}: ${z.prettifyError(parsed.error)}`);
  };

  for await (const message of messages) {
    const data = parseJson(message.data, provider);
    const { type } = parse(Envelope, data, message.event ?? "SSE");
    switch (type) {
      case "response.output_item.added": {
        const { item, output_index } = parse(ItemEvent, data, type);
        const itemId = item.id ?? `item_${output_index ?? idsByIndex.size}`;
        if (output_index !== undefined) idsByIndex.set(output_index, itemId);
        opened.add(itemId);
        yield { type: "output_item_added", itemId, kind: itemKind(item.type) };
        break;
      }
      case "response.output_text.delta": {
        const { item_id, delta } = parse(DeltaEvent, data, type);
        yield { type: "output_text_delta", itemId: item_id, delta };
        break;
      }
      case "response.reasoning_summary_text.delta": {
        const { item_id, delta } = parse(DeltaEvent, data, type);
        yield { type: "reasoning_summary_delta", itemId: item_id, delta };
        break;
      }
      case "response.output_item.done": {
        const { item, output_index } = parse(ItemEvent, data, type);
        const itemId = item.id ?? (output_index === undefined ? undefined : idsByIndex.get(output_index)) ?? `item_${output_index ?? 0}`;
        if (!opened.has(itemId)) yield { type: "output_item_added", itemId, kind: itemKind(item.type) };
        yield { type: "output_item_done", itemId, item: historyItem(item, provider) };
        break;
      }
      case "response.completed": {
        const { response } = parse(CompletedEvent, data, type);
        yield { type: "completed", responseId: response.id, usage: response.usage ? toTokenUsage(response.usage) : undefined };
        return;
      }
      case "response.failed":
        throw failure(parse(FailedEvent, data, type).response.error, provider);
      case "error":
        throw failure(parse(ServerError, data, type), provider);
      case "response.incomplete": {
        const reason = parse(IncompleteEvent, data, type).response.incomplete_details?.reason;
        throw new ModelResponseIncompleteError(provider, reason ?? "unknown");
      }
      default:
        // Lifecycle events (created, in_progress, content_part.*, *.done, argument deltas) carry nothing new.
        break;
    }
  }
  throw new StreamInterruptedError("stream closed before response.completed");
}

function parseJson(text: string, provider: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ModelStreamError(provider, `${provider} sent an SSE event that is not JSON: ${text.slice(0, 200)}`);
  }
}

function itemKind(type: string): "message" | "reasoning" | "function_call" | "other" {
  return type === "message" || type === "reasoning" || type === "function_call" ? type : "other";
}

function historyItem(raw: unknown, provider: string): ResponseItem {
  const parsed = parseResponseItem(raw);
  if (!parsed.ok) throw new ModelStreamError(provider, `malformed output item from ${provider}: ${parsed.error}`);
  return toCodexItem(parsed.item) ?? parsed.item;
}

function failure(error: z.infer<typeof ServerError> | null | undefined, provider: string): Error {
  const message = error?.message || "response failed without details";
  const code = error?.code ?? undefined;
  if (code !== undefined && RETRYABLE_FAILURE_CODES.has(code)) {
    return new StreamInterruptedError(`${code}: ${message}`, tryAgainInMs(message));
  }
  return new ModelResponseFailedError(provider, message, code);
}

/** Rate-limit messages say "Please try again in 1.5s" (or "in 250ms"). */
function tryAgainInMs(message: string): number | undefined {
  const match = /try again in (\d+(?:\.\d+)?)\s*(ms|s)\b/i.exec(message);
  if (match === null) return undefined;
  const value = Number(match[1]);
  return match[2]?.toLowerCase() === "ms" ? value : value * 1000;
}

function toTokenUsage(usage: z.infer<typeof Usage>): TokenUsage {
  return {
    input_tokens: usage.input_tokens,
    cached_input_tokens: usage.input_tokens_details?.cached_tokens ?? 0,
    output_tokens: usage.output_tokens,
    reasoning_output_tokens: usage.output_tokens_details?.reasoning_tokens ?? 0,
    total_tokens: usage.total_tokens,
  };
}

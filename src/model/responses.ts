// The OpenAI Responses API client (`wire_api = "responses"`): builds the request as Codex does and maps the
// `response.*` SSE events onto ModelStreamEvents.
import type { EventSourceMessage } from "eventsource-parser";
import {
  ModelResponseFailedError,
  ModelResponseIncompleteError,
  ModelStreamError,
  StreamInterruptedError,
} from "../errors.js";
import { ShapeError, nullish, number, object, optional, string, type JsonObject } from "../protocol/checks.js";
import type { TokenUsage } from "../protocol/events.js";
import { parseResponseItem, type ResponseItem } from "../protocol/response-item.js";
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

// The fields of each event this client reads, checked by hand (protocol/checks.ts); other fields are ignored.

function envelope(event: JsonObject): string {
  return string(event.type, "type");
}

type ItemEvent = { item: JsonObject; itemType: string; itemId: string | null | undefined; outputIndex: number | undefined };

function itemEvent(event: JsonObject): ItemEvent {
  const item = object(event.item, "item");
  return {
    item,
    itemType: string(item.type, "item.type"),
    itemId: nullish(item.id, "item.id", string),
    outputIndex: optional(event.output_index, "output_index", number),
  };
}

function deltaEvent(event: JsonObject): { itemId: string; delta: string } {
  return { itemId: string(event.item_id, "item_id"), delta: string(event.delta, "delta") };
}

function completedEvent(event: JsonObject): { id: string; usage: TokenUsage | null | undefined } {
  const response = object(event.response, "response");
  return { id: string(response.id, "response.id"), usage: nullish(response.usage, "response.usage", tokenUsage) };
}

type ServerError = { code: string | null | undefined; message: string | null | undefined };

function serverError(value: unknown, at: string): ServerError {
  const error = object(value, at);
  const field = (name: string): string => (at === "" ? name : `${at}.${name}`);
  return { code: nullish(error.code, field("code"), string), message: nullish(error.message, field("message"), string) };
}

function failedEvent(event: JsonObject): ServerError | null | undefined {
  return nullish(object(event.response, "response").error, "response.error", serverError);
}

function incompleteReason(event: JsonObject): string | null | undefined {
  const details = nullish(object(event.response, "response").incomplete_details, "response.incomplete_details", object);
  return nullish(details?.reason, "response.incomplete_details.reason", string);
}

function tokenUsage(value: unknown, at: string): TokenUsage {
  const usage = object(value, at);
  const inputDetails = nullish(usage.input_tokens_details, `${at}.input_tokens_details`, object);
  const outputDetails = nullish(usage.output_tokens_details, `${at}.output_tokens_details`, object);
  return {
    input_tokens: number(usage.input_tokens, `${at}.input_tokens`),
    cached_input_tokens: nullish(inputDetails?.cached_tokens, `${at}.input_tokens_details.cached_tokens`, number) ?? 0,
    output_tokens: number(usage.output_tokens, `${at}.output_tokens`),
    reasoning_output_tokens:
      nullish(outputDetails?.reasoning_tokens, `${at}.output_tokens_details.reasoning_tokens`, number) ?? 0,
    total_tokens: number(usage.total_tokens, `${at}.total_tokens`),
  };
}

/** `response.failed` codes worth another attempt: the server's trouble, not the request's. */
const RETRYABLE_FAILURE_CODES = new Set(["rate_limit_exceeded", "server_error", "server_is_overloaded", "slow_down"]);

export async function* decodeResponsesStream(
  messages: AsyncIterable<EventSourceMessage>,
  provider: string,
): AsyncGenerator<ModelStreamEvent> {
  const opened = new Set<string>();
  const idsByIndex = new Map<number, string>();
  const parse = <T>(read: (event: JsonObject) => T, value: unknown, type: string): T => {
    try {
      return read(object(value, ""));
    } catch (error) {
      if (!(error instanceof ShapeError)) throw error;
      throw new ModelStreamError(provider, `malformed ${type} event from ${provider}: ${error.message}`);
    }
  };

  for await (const message of messages) {
    const data = parseJson(message.data, provider);
    const type = parse(envelope, data, message.event ?? "SSE");
    switch (type) {
      case "response.output_item.added": {
        const { itemType, itemId: id, outputIndex } = parse(itemEvent, data, type);
        const itemId = id ?? `item_${outputIndex ?? idsByIndex.size}`;
        if (outputIndex !== undefined) idsByIndex.set(outputIndex, itemId);
        opened.add(itemId);
        yield { type: "output_item_added", itemId, kind: itemKind(itemType) };
        break;
      }
      case "response.output_text.delta": {
        const { itemId, delta } = parse(deltaEvent, data, type);
        yield { type: "output_text_delta", itemId, delta };
        break;
      }
      case "response.reasoning_summary_text.delta": {
        const { itemId, delta } = parse(deltaEvent, data, type);
        yield { type: "reasoning_summary_delta", itemId, delta };
        break;
      }
      case "response.output_item.done": {
        const { item, itemType, itemId: id, outputIndex } = parse(itemEvent, data, type);
        const itemId = id ?? (outputIndex === undefined ? undefined : idsByIndex.get(outputIndex)) ?? `item_${outputIndex ?? 0}`;
        if (!opened.has(itemId)) yield { type: "output_item_added", itemId, kind: itemKind(itemType) };
        yield { type: "output_item_done", itemId, item: historyItem(item, provider) };
        break;
      }
      case "response.completed": {
        const { id, usage } = parse(completedEvent, data, type);
        yield { type: "completed", responseId: id, usage: usage ?? undefined };
        return;
      }
      case "response.failed":
        throw failure(parse(failedEvent, data, type), provider);
      case "error":
        throw failure(parse((event) => serverError(event, ""), data, type), provider);
      case "response.incomplete":
        throw new ModelResponseIncompleteError(provider, parse(incompleteReason, data, type) ?? "unknown");
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

function failure(error: ServerError | null | undefined, provider: string): Error {
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

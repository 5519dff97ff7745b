// The Responses and Chat stream decoders and the HTTP error classifier check what the server sends by hand. The
// zod schemas they used before serve as the oracle: over broken variants of valid events, a decoder reports a
// malformed event exactly when the schema would have rejected it, and says which field is wrong.
import type { EventSourceMessage } from "eventsource-parser";
import { describe, expect, test } from "vitest";
import * as z from "zod";
import { ModelRequestError, ModelStreamError } from "../src/errors.js";
import { decodeChatStream } from "../src/model/chat.js";
import { classifyHttpFailure } from "../src/model/http.js";
import type { ModelProviderInfo } from "../src/model/provider-info.js";
import { decodeResponsesStream } from "../src/model/responses.js";
import type { ModelStreamEvent } from "../src/model/types.js";
import { brokenVariants } from "./variants.js";

// The schemas as they were in src/model/responses.ts, chat.ts and http.ts.
const Usage = z.looseObject({
  input_tokens: z.number(),
  input_tokens_details: z.looseObject({ cached_tokens: z.number().nullish() }).nullish(),
  output_tokens: z.number(),
  output_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish() }).nullish(),
  total_tokens: z.number(),
});
const ServerError = z.looseObject({ code: z.string().nullish(), message: z.string().nullish() });
const RESPONSES_EVENTS: Record<string, z.ZodType> = {
  "response.output_item.added": z.looseObject({
    output_index: z.number().optional(),
    item: z.looseObject({ type: z.string(), id: z.string().nullish() }),
  }),
  "response.output_text.delta": z.looseObject({ item_id: z.string(), delta: z.string() }),
  "response.completed": z.looseObject({ response: z.looseObject({ id: z.string(), usage: Usage.nullish() }) }),
  "response.failed": z.looseObject({ response: z.looseObject({ error: ServerError.nullish() }) }),
  error: ServerError,
  "response.incomplete": z.looseObject({
    response: z.looseObject({ incomplete_details: z.looseObject({ reason: z.string().nullish() }).nullish() }),
  }),
};
const ToolCallDelta = z.looseObject({
  index: z.number().optional(),
  id: z.string().nullish(),
  function: z.looseObject({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
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
  usage: z
    .looseObject({
      prompt_tokens: z.number(),
      completion_tokens: z.number(),
      total_tokens: z.number().optional(),
      prompt_tokens_details: z.looseObject({ cached_tokens: z.number().nullish() }).nullish(),
      completion_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish() }).nullish(),
    })
    .nullish(),
  error: z.looseObject({ message: z.string().nullish(), code: z.union([z.string(), z.number()]).nullish() }).nullish(),
});
const ErrorBody = z.looseObject({
  error: z.looseObject({
    message: z.string().nullish(),
    code: z.union([z.string(), z.number()]).nullish(),
    type: z.string().nullish(),
  }),
});

const VALID_RESPONSES_EVENTS: Record<string, unknown>[] = [
  { type: "response.output_item.added", output_index: 0, item: { type: "message", id: "msg_1", role: "assistant", content: [] } },
  { type: "response.output_item.added", item: { type: "reasoning", id: null } },
  { type: "response.output_text.delta", item_id: "msg_1", output_index: 0, delta: "Hel" },
  {
    type: "response.completed",
    response: {
      id: "resp_1",
      usage: {
        input_tokens: 10,
        input_tokens_details: { cached_tokens: 4 },
        output_tokens: 5,
        output_tokens_details: { reasoning_tokens: 2 },
        total_tokens: 15,
      },
    },
  },
  { type: "response.completed", response: { id: "resp_1", usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2, input_tokens_details: null } } },
  { type: "response.failed", response: { error: { code: "server_error", message: "try again in 1s" } } },
  { type: "response.failed", response: { error: null } },
  { type: "error", code: "invalid_prompt", message: "bad" },
  { type: "response.incomplete", response: { incomplete_details: { reason: "max_output_tokens" } } },
];

const VALID_CHUNKS: Record<string, unknown>[] = [
  { id: "chatcmpl-1", choices: [{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }] },
  {
    id: "chatcmpl-1",
    choices: [
      {
        delta: { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "shell", arguments: '{"a":1}' } }] },
        finish_reason: "tool_calls",
      },
    ],
  },
  {
    choices: [],
    usage: {
      prompt_tokens: 10,
      completion_tokens: 4,
      total_tokens: 14,
      prompt_tokens_details: { cached_tokens: 3 },
      completion_tokens_details: { reasoning_tokens: null },
    },
  },
  { error: { message: "overloaded", code: 529 } },
];

async function* messages(...events: { event?: string; data: string }[]): AsyncGenerator<EventSourceMessage> {
  for (const { event, data } of events) yield { event, data, id: undefined };
}

async function drain(events: AsyncIterable<ModelStreamEvent>): Promise<{ events: ModelStreamEvent[]; error?: unknown }> {
  const seen: ModelStreamEvent[] = [];
  try {
    for await (const event of events) seen.push(event);
    return { events: seen };
  } catch (error) {
    return { events: seen, error };
  }
}

/** The message of the ModelStreamError a malformed event ends the stream with, else undefined. */
function malformed(error: unknown): string | undefined {
  return error instanceof ModelStreamError && error.message.startsWith("malformed ") ? error.message : undefined;
}

describe("Responses events", () => {
  const completed = { data: JSON.stringify({ type: "response.completed", response: { id: "r", usage: null } }) };

  test("a decoder reports a malformed event exactly when the zod schema rejects it", async () => {
    let cases = 0;
    const disagreements: unknown[] = [];
    for (const valid of VALID_RESPONSES_EVENTS) {
      const type = String(valid.type);
      const schema = RESPONSES_EVENTS[type] as z.ZodType;
      // The `type` picks the event: changing it is a different event, not a broken one.
      for (const event of brokenVariants(valid, (path) => path.length === 1 && path[0] === "type")) {
        cases++;
        let data: string;
        try {
          data = JSON.stringify(event) ?? "null";
        } catch {
          continue; // a symbol or function cannot reach the wire
        }
        const roundTripped: unknown = JSON.parse(data);
        const { error } = await drain(decodeResponsesStream(messages({ event: type, data }, completed), "P"));
        const expected = RESPONSES_EVENTS[type] === undefined || schema.safeParse(roundTripped).success;
        if (expected === (malformed(error) !== undefined)) disagreements.push({ event: roundTripped, error });
      }
    }
    expect(cases).toBeGreaterThan(500);
    expect(disagreements).toEqual([]);
  });

  test.each([
    [{ type: "response.output_text.delta", item_id: "m", delta: 5 }, "delta: expected a string, got 5"],
    [{ type: "response.output_text.delta", delta: "x" }, "item_id is missing (expected a string)"],
    [{ type: "response.output_item.added", output_index: null, item: { type: "message" } }, "output_index: expected a number, got null"],
    [{ type: "response.output_item.added", item: [] }, "item: expected an object, got an empty array"],
    [{ type: "response.completed", response: { id: "r", usage: { input_tokens: "1" } } }, 'response.usage.input_tokens: expected a number, got "1"'],
    [{ type: "response.failed", response: { error: { code: 500 } } }, "response.error.code: expected a string, got 500"],
    [{ type: "error", message: ["m"] }, "message: expected a string, got an array"],
    [{ type: "response.incomplete", response: { incomplete_details: { reason: 3 } } }, "response.incomplete_details.reason: expected a string, got 3"],
  ])("%j is malformed: %s", async (event, reason) => {
    const { error } = await drain(decodeResponsesStream(messages({ data: JSON.stringify(event) }), "P"));
    expect(malformed(error)).toBe(`malformed ${event.type} event from P: ${reason}`);
  });

  test.each([["5"], ["null"], ['"text"'], ["[]"], ['{"type":1}']])("%s is not an event", async (data) => {
    const { error } = await drain(decodeResponsesStream(messages({ event: "message", data }), "P"));
    expect(malformed(error)).toMatch(/^malformed message event from P: /);
  });

  test("reads usage with and without details, and an output item's unknown fields into history", async () => {
    const item = { type: "function_call", id: "fc_1", status: "completed", name: "shell", arguments: "{}", call_id: "c1" };
    const { events, error } = await drain(
      decodeResponsesStream(
        messages(
          { data: JSON.stringify({ type: "response.output_item.done", output_index: 0, item }) },
          { data: JSON.stringify(VALID_RESPONSES_EVENTS[3]) },
        ),
        "P",
      ),
    );
    expect(error).toBeUndefined();
    expect(events).toEqual([
      { type: "output_item_added", itemId: "fc_1", kind: "function_call" },
      { type: "output_item_done", itemId: "fc_1", item: { type: "function_call", name: "shell", arguments: "{}", call_id: "c1" } },
      {
        type: "completed",
        responseId: "resp_1",
        usage: { input_tokens: 10, cached_input_tokens: 4, output_tokens: 5, reasoning_output_tokens: 2, total_tokens: 15 },
      },
    ]);
  });
});

describe("Chat chunks", () => {
  test("a decoder reports a malformed chunk exactly when the zod schema rejects it", async () => {
    let cases = 0;
    const disagreements: unknown[] = [];
    for (const valid of VALID_CHUNKS) {
      for (const chunk of brokenVariants(valid)) {
        cases++;
        let data: string;
        try {
          data = JSON.stringify(chunk) ?? "null";
        } catch {
          continue;
        }
        const roundTripped: unknown = JSON.parse(data);
        const { error } = await drain(decodeChatStream(messages({ data }, { data: "[DONE]" }), "P", "fallback"));
        if (Chunk.safeParse(roundTripped).success === (malformed(error) !== undefined)) disagreements.push({ chunk: roundTripped, error });
      }
    }
    expect(cases).toBeGreaterThan(500);
    expect(disagreements).toEqual([]);
  });

  test.each([
    [{ choices: {} }, "choices: expected an array, got an object"],
    [{ choices: [{ delta: { content: 1 } }] }, "choices[0].delta.content: expected a string, got 1"],
    [{ choices: [{ delta: { tool_calls: [{ function: { arguments: {} } }] } }] }, "choices[0].delta.tool_calls[0].function.arguments: expected a string, got an object"],
    [{ choices: [{ delta: { tool_calls: [{ index: "0" }] } }] }, 'choices[0].delta.tool_calls[0].index: expected a number, got "0"'],
    [{ usage: { prompt_tokens: 1 } }, "usage.completion_tokens is missing (expected a number)"],
    [{ error: { code: true } }, "error.code: expected a string or a number, got true"],
    [{ id: null }, "id: expected a string, got null"],
  ])("%j is malformed: %s", async (chunk, reason) => {
    const { error } = await drain(decodeChatStream(messages({ data: JSON.stringify(chunk) }), "P", "fallback"));
    expect(malformed(error)).toBe(`malformed chat completion chunk from P: ${reason}`);
  });

  test("counts usage as prompt plus completion tokens when the server leaves the total out", async () => {
    const usage = { prompt_tokens: 7, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 2 } };
    const { events } = await drain(
      decodeChatStream(messages({ data: JSON.stringify({ id: "c", choices: [], usage }) }, { data: "[DONE]" }), "P", "fallback"),
    );
    expect(events).toEqual([
      { type: "completed", responseId: "c", usage: { input_tokens: 7, cached_input_tokens: 2, output_tokens: 3, reasoning_output_tokens: 0, total_tokens: 10 } },
    ]);
  });
});

describe("HTTP error bodies", () => {
  const info: ModelProviderInfo = {
    id: "p",
    name: "P",
    baseUrl: "http://127.0.0.1:1/v1",
    wireApi: "responses",
    requestMaxRetries: 0,
    streamMaxRetries: 0,
    streamIdleTimeoutMs: 1000,
  };
  const classify = (body: string, status = 400) =>
    classifyHttpFailure(
      { ok: false, status, statusText: "Bad Request", headers: { get: () => null }, body: null, text: async () => body },
      info,
      "m",
      false,
    );

  test("reads the server's message and code, a numeric code as text", async () => {
    const failure = await classify(JSON.stringify({ error: { message: "no such thing", code: 1234, type: "invalid_request_error" } }));
    expect(failure).toMatchObject({ retry: false, error: { serverMessage: "no such thing" } });
    expect((await classify(JSON.stringify({ error: { code: "insufficient_quota", message: "pay" } }), 429)).retry).toBe(false);
    expect((await classify(JSON.stringify({ error: { type: "model_not_found", message: "m?" } }))).retry).toBe(false);
  });

  test("shows any other body as text, exactly when the zod schema would have rejected it", async () => {
    const valid = { error: { message: "the message", code: "c", type: "t", param: null } };
    for (const body of brokenVariants(valid)) {
      let text: string;
      try {
        text = JSON.stringify(body) ?? "";
      } catch {
        continue;
      }
      const parsed = ErrorBody.safeParse(text === "" ? undefined : JSON.parse(text));
      const failure = await classify(text);
      if (failure.retry) throw new Error("a 400 is not retried");
      expect(failure.error).toBeInstanceOf(ModelRequestError);
      const shown = parsed.success && parsed.data.error.message ? parsed.data.error.message : text.trim().slice(0, 500) || "Bad Request";
      expect((failure.error as ModelRequestError).serverMessage).toBe(shown);
    }
  });
});

// The Responses and Chat clients against the mock model server over real HTTP: streaming, tool calls,
// retries (with an injected sleep, so no test waits for backoff), typed failures, abort, request shape.
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  MissingApiKeyError,
  ModelAuthError,
  ModelNotFoundError,
  ModelResponseFailedError,
  ModelResponseIncompleteError,
  ModelStreamError,
} from "../src/errors.js";
import { startMockModelServer, type MockModelServer } from "../src/mock-model/index.js";
import { createChatClient } from "../src/model/chat.js";
import type { ModelProviderInfo, WireApi } from "../src/model/provider-info.js";
import { createResponsesClient } from "../src/model/responses.js";
import type { ModelClient, ModelRequest, ModelStreamEvent } from "../src/model/types.js";
import type { ResponseItem } from "../src/protocol/index.js";

let server: MockModelServer;
beforeEach(async () => {
  server = await startMockModelServer();
});
afterEach(async () => {
  await server.close();
});

/**
 * Top-level fields of the body Codex 0.169 POSTs to /v1/responses (reference codex-rollouts/wire/
 * responses-request-first-turn.json), less `text` and `client_metadata` (Codex's own) and `reasoning` (sent
 * only with an effort). Codex 0.169 moved `instructions` into a developer input message; llmx keeps the field.
 */
const CODEX_BODY_FIELDS = ["model", "stream", "input", "tools", "tool_choice", "parallel_tool_calls", "store", "include", "prompt_cache_key"];
const CODEX_TOOL_FIELDS = ["type", "name", "description", "strict", "parameters"];
/** Backoff delays asked for in the current test; nothing actually waits. */
const sleeps: number[] = [];
const noSleep = async (ms: number, signal: AbortSignal): Promise<void> => {
  sleeps.push(ms);
  signal.throwIfAborted();
};
beforeEach(() => {
  sleeps.length = 0;
});

function providerInfo(wireApi: WireApi, overrides: Partial<ModelProviderInfo> = {}): ModelProviderInfo {
  return {
    id: "mock",
    name: "Mock",
    baseUrl: server.url,
    wireApi,
    requestMaxRetries: 3,
    streamMaxRetries: 3,
    streamIdleTimeoutMs: 10_000,
    ...overrides,
  };
}

function client(wireApi: WireApi, overrides: Partial<ModelProviderInfo> = {}, env: NodeJS.ProcessEnv = {}): ModelClient {
  const info = providerInfo(wireApi, overrides);
  const options = { env, sleep: noSleep };
  return wireApi === "chat" ? createChatClient(info, options) : createResponsesClient(info, options);
}

const userMessage = (text: string): ResponseItem => ({ type: "message", role: "user", content: [{ type: "input_text", text }] });

function request(text: string, overrides: Partial<ModelRequest> = {}): ModelRequest {
  return {
    model: "mock-model",
    conversationId: "01a20ac5-73ac-7500-b99c-82674d8e6a5d",
    instructions: "You are a test.",
    input: [userMessage(text)],
    tools: [{ type: "function", name: "shell", description: "Runs a command.", parameters: { type: "object", properties: {} } }],
    ...overrides,
  };
}

async function collect(stream: AsyncIterable<ModelStreamEvent>): Promise<ModelStreamEvent[]> {
  const events: ModelStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** Events streamed before the stream failed, and the failure. */
async function runToFailure(model: ModelClient, req: ModelRequest): Promise<{ events: ModelStreamEvent[]; error: unknown }> {
  const events: ModelStreamEvent[] = [];
  try {
    for await (const event of model.stream(req, new AbortController().signal)) events.push(event);
  } catch (error) {
    return { events, error };
  }
  throw new Error(`expected the stream to fail; it yielded ${JSON.stringify(events)}`);
}

const run = (model: ModelClient, req: ModelRequest, signal = new AbortController().signal) => collect(model.stream(req, signal));
const doneItems = (events: ModelStreamEvent[]) => events.flatMap((event) => (event.type === "output_item_done" ? [event.item] : []));
const deltas = (events: ModelStreamEvent[]) => events.flatMap((event) => (event.type === "output_text_delta" ? [event.delta] : []));
const types = (events: ModelStreamEvent[]) => events.map((event) => event.type);
const retries = (events: ModelStreamEvent[]) => events.filter((event) => event.type === "retrying");

describe.each(["responses", "chat"] as const)("%s client", (wireApi) => {
  it("streams deltas that join to the final assistant message, then usage", async () => {
    const events = await run(client(wireApi), request("Hello"));
    const [item] = doneItems(events);
    expect(deltas(events).length).toBeGreaterThan(3);
    expect(deltas(events).join("")).toBe("Hello from mock, reply #1");
    expect(item).toEqual({ type: "message", role: "assistant", content: [{ type: "output_text", text: "Hello from mock, reply #1" }] });
    expect(types(events)[0]).toBe("output_item_added");
    expect(events.at(-1)).toMatchObject({
      type: "completed",
      usage: { input_tokens: expect.any(Number), cached_input_tokens: 0, output_tokens: expect.any(Number), reasoning_output_tokens: 0 },
    });
  });

  it("turns RUNSHELL into a function_call item with the JSON arguments", async () => {
    const events = await run(client(wireApi), request("RUNSHELL: ls /tmp"));
    expect(events).toContainEqual(expect.objectContaining({ type: "output_item_added", kind: "function_call" }));
    const [call] = doneItems(events);
    expect(call).toEqual({
      type: "function_call",
      name: "shell",
      arguments: JSON.stringify({ command: ["bash", "-lc", "ls /tmp"] }),
      call_id: "call_mock_1",
    });
  });

  it("sends tool outputs back so the model can answer them", async () => {
    const input: ResponseItem[] = [
      userMessage("RUNSHELL"),
      { type: "function_call", name: "shell", arguments: "{}", call_id: "call_1" },
      { type: "function_call_output", call_id: "call_1", output: "hi\n" },
    ];
    expect(deltas(await run(client(wireApi), request("", { input }))).join("")).toBe("Tool said: hi");
  });

  it("retries a 429 once, then streams the reply", async () => {
    server.failNext({ status: 429 });
    const events = await run(client(wireApi), request("Hello"));
    expect(retries(events)).toEqual([{ type: "retrying", attempt: 1, max: 3, message: expect.stringContaining("429") }]);
    expect(types(events)[0]).toBe("retrying");
    expect(deltas(events).join("")).toBe("Hello from mock, reply #2");
  });

  it("reconnects a dropped stream and streams the whole reply again", async () => {
    server.failNext({ dropAfterEvents: 3 });
    const events = await run(client(wireApi), request("Hello"));
    expect(retries(events)).toEqual([{ type: "retrying", attempt: 1, max: 3, message: expect.stringContaining("disconnected") }]);
    const afterRetry = events.slice(events.findIndex((event) => event.type === "retrying") + 1);
    expect(deltas(afterRetry).join("")).toBe("Hello from mock, reply #2");
    expect(afterRetry.at(-1)?.type).toBe("completed");
  });

  it("fails a rejected API key with ModelAuthError, without retrying", async () => {
    const model = client(wireApi, { envKey: "MOCK_KEY" }, { MOCK_KEY: "sk-wrong" });
    const { error } = await runToFailure(model, request("MOCK_401"));
    expect(error).toBeInstanceOf(ModelAuthError);
    expect(error).toMatchObject({ status: 401, provider: "Mock", code: "model_auth" });
    expect((error as Error).message).toMatch(/Mock rejected the API key.*Incorrect API key provided/);
    expect(server.requests).toHaveLength(1);
  });

  it("fails an unknown model with ModelNotFoundError naming it", async () => {
    const { error } = await runToFailure(client(wireApi), request("hi", { model: "does-not-exist" }));
    expect(error).toBeInstanceOf(ModelNotFoundError);
    expect((error as Error).message).toContain('"does-not-exist"');
    expect(server.requests).toHaveLength(1);
  });

  it("gives up with ModelStreamError carrying the last cause when retries run out", async () => {
    server.failNext({ status: 502, times: 10 });
    const { events, error } = await runToFailure(client(wireApi, { requestMaxRetries: 2 }), request("hi"));
    expect(error).toBeInstanceOf(ModelStreamError);
    expect((error as ModelStreamError).cause).toBeInstanceOf(Error);
    expect((error as Error).message).toContain("HTTP 502");
    expect(retries(events).map((event) => event.type === "retrying" && event.attempt)).toEqual([1, 2]);
    expect(server.requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it("waits as long as a 429's Retry-After asks", async () => {
    server.failNext({ status: 429, headers: { "retry-after": "7" } });
    await run(client(wireApi), request("hi"));
    expect(sleeps).toEqual([7000]);
  });

  it("gives up on a stream that keeps dropping after streamMaxRetries", async () => {
    server.failNext({ dropAfterEvents: 2, times: 10 });
    const { error } = await runToFailure(client(wireApi, { streamMaxRetries: 1 }), request("hi"));
    expect(error).toBeInstanceOf(ModelStreamError);
    expect(server.requests).toHaveLength(2);
  });

  it("treats an idle stream as dropped", async () => {
    const { error } = await runToFailure(client(wireApi, { streamIdleTimeoutMs: 5, streamMaxRetries: 1 }), request("MOCK_SLOW"));
    expect(error).toBeInstanceOf(ModelStreamError);
    expect((error as Error).message).toContain("idle");
  });

  it("ends promptly with the abort reason when aborted mid-stream", async () => {
    const controller = new AbortController();
    const seen: ModelStreamEvent[] = [];
    const outcome = (async () => {
      for await (const event of client(wireApi).stream(request("MOCK_SLOW"), controller.signal)) {
        seen.push(event);
        if (event.type === "output_text_delta") controller.abort();
      }
    })();
    await expect(outcome).rejects.toMatchObject({ name: "AbortError" });
    expect(deltas(seen)).toHaveLength(1);
  });

  it("refuses to send a request when the configured API key variable is unset", async () => {
    const { error } = await runToFailure(client(wireApi, { envKey: "LLMX_TEST_MISSING_KEY" }, {}), request("hi"));
    expect(error).toBeInstanceOf(MissingApiKeyError);
    expect((error as Error).message).toContain("LLMX_TEST_MISSING_KEY");
    expect(server.requests).toHaveLength(0);
  });

  it("sends the API key and the provider's extra headers", async () => {
    await run(client(wireApi, { envKey: "MOCK_KEY", httpHeaders: { "x-extra": "1" } }, { MOCK_KEY: "sk-123" }), request("hi"));
    expect(server.requests[0]?.headers).toMatchObject({ authorization: "Bearer sk-123", "x-extra": "1" });
  });
});

describe("Responses request body", () => {
  it("has the structure of Codex's request, without ids, `other` items or ghost snapshots", async () => {
    const input: ResponseItem[] = [
      { type: "message", id: "msg_1", role: "user", content: [{ type: "input_text", text: "hi" }] },
      { type: "other", original_type: "compaction" },
      { type: "ghost_snapshot", ghost_commit: { id: "abc" } },
      { type: "function_call", id: "fc_1", name: "shell", arguments: "{}", call_id: "call_1", status: "completed" },
      { type: "function_call_output", call_id: "call_1", output: "ok" },
    ];
    await run(client("responses"), request("", { input }));
    const body = server.requests[0]?.body as Record<string, unknown>;
    expect(body).toEqual({
      model: "mock-model",
      instructions: "You are a test.",
      input: [
        { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] },
        { type: "function_call", name: "shell", arguments: "{}", call_id: "call_1" },
        { type: "function_call_output", call_id: "call_1", output: "ok" },
      ],
      tools: [{ type: "function", name: "shell", description: "Runs a command.", strict: false, parameters: { type: "object", properties: {} } }],
      tool_choice: "auto",
      parallel_tool_calls: false,
      store: false,
      stream: true,
      include: [],
      prompt_cache_key: "01a20ac5-73ac-7500-b99c-82674d8e6a5d",
    });
    expect(Object.keys(body).sort()).toEqual([...CODEX_BODY_FIELDS, "instructions"].sort());
    expect(Object.keys((body.tools as Record<string, unknown>[])[0]!).sort()).toEqual([...CODEX_TOOL_FIELDS].sort());
  });

  it("asks for reasoning and its encrypted content when an effort is set", async () => {
    await run(client("responses"), request("hi", { reasoningEffort: "medium" }));
    expect(server.requests[0]?.body).toMatchObject({
      reasoning: { effort: "medium", summary: "auto" },
      include: ["reasoning.encrypted_content"],
    });
  });
});

describe("Chat request body", () => {
  it("converts history into system, user, assistant tool_calls and tool messages", async () => {
    const input: ResponseItem[] = [
      { type: "message", role: "developer", content: [{ type: "input_text", text: "rules" }] },
      userMessage("RUNSHELL"),
      { type: "reasoning", summary: [], encrypted_content: null },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "Running it." }] },
      { type: "function_call", name: "shell", arguments: '{"command":["ls"]}', call_id: "call_1" },
      { type: "function_call_output", call_id: "call_1", output: "a.txt" },
    ];
    await run(client("chat"), request("", { input }));
    expect(server.requests[0]?.body).toEqual({
      model: "mock-model",
      messages: [
        { role: "system", content: "You are a test." },
        { role: "system", content: "rules" },
        { role: "user", content: "RUNSHELL" },
        {
          role: "assistant",
          content: "Running it.",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "shell", arguments: '{"command":["ls"]}' } }],
        },
        { role: "tool", tool_call_id: "call_1", content: "a.txt" },
      ],
      tools: [{ type: "function", function: { name: "shell", description: "Runs a command.", parameters: { type: "object", properties: {} } } }],
      stream: true,
      stream_options: { include_usage: true },
    });
  });
});

describe("streams the mock cannot produce (canned SSE through an injected fetch)", () => {
  const sse = (...events: Record<string, unknown>[]) =>
    events.map((event) => `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`).join("");
  const cannedClient = (wireApi: WireApi, bodies: string[]) => {
    const options = {
      env: {},
      sleep: noSleep,
      fetch: (async () => new Response(bodies.shift() ?? "", { headers: { "content-type": "text/event-stream" } })) as typeof fetch,
    };
    const info = providerInfo(wireApi);
    return wireApi === "chat" ? createChatClient(info, options) : createResponsesClient(info, options);
  };
  const completed = { type: "response.completed", response: { id: "resp_1", usage: null } };

  it("maps reasoning summaries and records reasoning without its id", async () => {
    const reasoning = { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "**Plan**" }], encrypted_content: "gAAA" };
    const events = await run(
      cannedClient("responses", [
        sse(
          { type: "response.created", response: { id: "resp_1" } },
          { type: "response.output_item.added", output_index: 0, item: { ...reasoning, summary: [] } },
          { type: "response.reasoning_summary_text.delta", item_id: "rs_1", summary_index: 0, delta: "**Plan**" },
          { type: "response.output_item.done", output_index: 0, item: reasoning },
          completed,
        ),
      ]),
      request("hi"),
    );
    expect(events).toEqual([
      { type: "output_item_added", itemId: "rs_1", kind: "reasoning" },
      { type: "reasoning_summary_delta", itemId: "rs_1", delta: "**Plan**" },
      {
        type: "output_item_done",
        itemId: "rs_1",
        item: { type: "reasoning", summary: [{ type: "summary_text", text: "**Plan**" }], encrypted_content: "gAAA", content: null },
      },
      { type: "completed", responseId: "resp_1", usage: undefined },
    ]);
  });

  it("fails on response.failed with the server's message, without retrying", async () => {
    const failed = { type: "response.failed", response: { error: { code: "context_length_exceeded", message: "Your input exceeds the context window." } } };
    const { error } = await runToFailure(cannedClient("responses", [sse(failed), sse(completed)]), request("hi"));
    expect(error).toBeInstanceOf(ModelResponseFailedError);
    expect(error).toMatchObject({ message: "Your input exceeds the context window.", errorCode: "context_length_exceeded" });
  });

  it("retries response.failed when the server is at fault, honouring its suggested delay", async () => {
    const failed = { type: "response.failed", response: { error: { code: "rate_limit_exceeded", message: "Please try again in 1.5s." } } };
    const events = await run(cannedClient("responses", [sse(failed), sse(completed)]), request("hi"));
    expect(types(events)).toEqual(["retrying", "completed"]);
    expect(sleeps).toEqual([1500]);
  });

  it("fails on response.incomplete naming the reason", async () => {
    const incomplete = { type: "response.incomplete", response: { incomplete_details: { reason: "max_output_tokens" } } };
    const { error } = await runToFailure(cannedClient("responses", [sse(incomplete)]), request("hi"));
    expect(error).toBeInstanceOf(ModelResponseIncompleteError);
    expect((error as Error).message).toContain("max_output_tokens");
  });

  it("accumulates a chat tool call split across chunks, by index", async () => {
    const chunk = (delta: Record<string, unknown>, finish_reason: string | null = null) => ({
      id: "chatcmpl-9",
      choices: [{ index: 0, delta, finish_reason }],
    });
    const body =
      [
        chunk({ role: "assistant", tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "sh", arguments: "" } }] }),
        chunk({ tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "update_plan", arguments: '{"plan"' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { name: "ell", arguments: '{"comm' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: 'and":["ls"]}' } }] }),
        chunk({ tool_calls: [{ index: 1, function: { arguments: ":[]}" } }] }),
        chunk({}, "tool_calls"),
        { id: "chatcmpl-9", choices: [], usage: { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 } },
      ]
        .map((data) => `data: ${JSON.stringify(data)}\n\n`)
        .join("") + "data: [DONE]\n\n";
    const events = await run(cannedClient("chat", [body]), request("hi"));
    expect(doneItems(events)).toEqual([
      { type: "function_call", name: "shell", arguments: '{"command":["ls"]}', call_id: "call_a" },
      { type: "function_call", name: "update_plan", arguments: '{"plan":[]}', call_id: "call_b" },
    ]);
    expect(events.at(-1)).toEqual({
      type: "completed",
      responseId: "chatcmpl-9",
      usage: { input_tokens: 10, cached_input_tokens: 0, output_tokens: 4, reasoning_output_tokens: 0, total_tokens: 14 },
    });
  });
});

describe.each(["responses", "chat"] as const)("%s client against a server that accepts and then says nothing", (wireApi) => {
  /** Counts requests; answers none, or sends a failure status and then never the body. */
  let silent: { url: string; requests: number; close(): Promise<void> };
  async function startSilentServer(behaviour: "no-headers" | "no-error-body"): Promise<void> {
    const state = { requests: 0 };
    const httpServer = createServer((req, res) => {
      state.requests++;
      req.resume();
      if (behaviour === "no-error-body") {
        res.writeHead(503, { "content-type": "application/json" });
        res.flushHeaders();
      }
    });
    httpServer.listen(0, "127.0.0.1");
    await once(httpServer, "listening");
    const { port } = httpServer.address() as AddressInfo;
    silent = {
      url: `http://127.0.0.1:${port}/v1`,
      get requests() {
        return state.requests;
      },
      close: async () => {
        httpServer.closeAllConnections();
        httpServer.close();
        await once(httpServer, "close");
      },
    };
  }
  afterEach(async () => {
    await silent.close();
  });

  it("treats a wait for response headers longer than the idle timeout as a stalled stream, and retries it", async () => {
    await startSilentServer("no-headers");
    const model = client(wireApi, { baseUrl: silent.url, streamIdleTimeoutMs: 50, streamMaxRetries: 2, requestMaxRetries: 0 });
    const { events, error } = await runToFailure(model, request("hi"));
    expect(error).toBeInstanceOf(ModelStreamError);
    expect((error as Error).message).toBe("Mock: giving up after 2 retries: stream idle for more than 50 ms waiting for Mock to answer");
    expect(retries(events)).toHaveLength(2);
    expect(silent.requests).toBe(3);
  });

  it("ends at once with the abort reason when aborted while waiting for headers", async () => {
    await startSilentServer("no-headers");
    const controller = new AbortController();
    const model = client(wireApi, { baseUrl: silent.url, streamIdleTimeoutMs: 60_000 });
    const outcome = run(model, request("hi"), controller.signal);
    while (silent.requests === 0) await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await expect(outcome).rejects.toMatchObject({ name: "AbortError" });
  });

  it("does not wait forever for the body of a failure status either", async () => {
    await startSilentServer("no-error-body");
    const model = client(wireApi, { baseUrl: silent.url, streamIdleTimeoutMs: 50, requestMaxRetries: 1 });
    const { error } = await runToFailure(model, request("hi"));
    expect(error).toBeInstanceOf(ModelStreamError);
    expect((error as Error).message).toContain("HTTP 503");
    expect(silent.requests).toBe(2);
  });
});

describe("connections kept between requests (node:http, a server that counts them)", () => {
  /** Serves each POST the next body of `bodies` as an SSE response, and records the client's port. */
  async function sseServer(bodies: string[]): Promise<{ url: string; ports: (number | undefined)[]; close(): Promise<void> }> {
    const ports: (number | undefined)[] = [];
    const httpServer = createServer((req, res) => {
      ports.push(req.socket.remotePort);
      req.resume();
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(bodies[ports.length - 1] ?? "");
    });
    httpServer.listen(0, "127.0.0.1");
    await once(httpServer, "listening");
    const { port } = httpServer.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/v1`,
      ports,
      close: async () => {
        httpServer.closeAllConnections();
        httpServer.close();
        await once(httpServer, "close");
      },
    };
  }
  const completed = (id: string) =>
    `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"m","delta":"hi"}\n\n` +
    `event: response.completed\ndata: {"type":"response.completed","response":{"id":"${id}"}}\n\n`;

  it("a stream that completed leaves its connection to the next request; one refused for a malformed event does not", async () => {
    const served = await sseServer([completed("r1"), completed("r2"), "event: response.created\ndata: {not json\n\n", completed("r4")]);
    try {
      const model = client("responses", { baseUrl: served.url, requestMaxRetries: 0, streamMaxRetries: 0 });
      // Between a turn's requests its tools run: the connection is back in the pool by then.
      const pause = () => new Promise((resolve) => setTimeout(resolve, 30));
      expect((await run(model, request("one"))).at(-1)).toMatchObject({ type: "completed", responseId: "r1" });
      await pause();
      expect((await run(model, request("two"))).at(-1)).toMatchObject({ type: "completed", responseId: "r2" });
      await pause();
      expect((await runToFailure(model, request("three"))).error).toBeInstanceOf(ModelStreamError);
      await pause();
      expect((await run(model, request("four"))).at(-1)).toMatchObject({ type: "completed", responseId: "r4" });
      const [first, second, third, fourth] = served.ports;
      expect(second).toBe(first);
      expect(third).toBe(second);
      // The malformed stream's connection was torn down, though its server ended the response cleanly.
      expect(fourth).not.toBe(third);
    } finally {
      await served.close();
    }
  });
});

// The mock model server over real HTTP: its reply rules on both wire APIs, faults, and request recording.
import { createParser } from "eventsource-parser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startMockModelServer, type MockModelServer } from "../src/mock-model/index.js";

let server: MockModelServer;
beforeEach(async () => {
  server = await startMockModelServer();
});
afterEach(async () => {
  await server.close();
});

type Reply = { status: number; events: unknown[]; raw: string };

async function post(path: string, body: unknown, signal?: AbortSignal): Promise<Reply> {
  const response = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sk-test" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: signal ?? null,
  });
  const raw = await response.text();
  const events: unknown[] = [];
  if (response.headers.get("content-type")?.startsWith("text/event-stream")) {
    const parser = createParser({ onEvent: (event) => events.push(event.data === "[DONE]" ? "[DONE]" : JSON.parse(event.data)) });
    parser.feed(raw);
  }
  return { status: response.status, events, raw };
}

const user = (text: string) => ({ type: "message", role: "user", content: [{ type: "input_text", text }] });
const responses = (...input: unknown[]) => post("/responses", { model: "mock-model", input, stream: true });
const chat = (...messages: unknown[]) =>
  post("/chat/completions", { model: "mock-model", messages: [{ role: "system", content: "be brief" }, ...messages], stream: true });

type Event = { type: string; delta?: string; item?: Record<string, unknown>; response?: Record<string, unknown> };
const ofType = (reply: Reply, type: string) => (reply.events as Event[]).filter((event) => event.type === type);
const responsesText = (reply: Reply) => ofType(reply, "response.output_text.delta").map((event) => event.delta).join("");

type Chunk = {
  choices: { delta: { content?: string | null; tool_calls?: { index: number; id?: string; function: { name?: string; arguments?: string } }[] }; finish_reason: string | null }[];
  usage?: Record<string, unknown>;
};
const chunks = (reply: Reply) => reply.events.filter((event): event is Chunk => event !== "[DONE]");
const chatText = (reply: Reply) => chunks(reply).flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? "")).join("");
const chatToolCall = (reply: Reply) => {
  const fragments = chunks(reply).flatMap((chunk) => chunk.choices.flatMap((choice) => choice.delta.tool_calls ?? []));
  return {
    id: fragments.find((fragment) => fragment.id !== undefined)?.id,
    name: fragments.map((fragment) => fragment.function.name ?? "").join(""),
    arguments: fragments.map((fragment) => fragment.function.arguments ?? "").join(""),
    fragments: fragments.length,
  };
};
const finishReasons = (reply: Reply) => chunks(reply).flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason)).filter(Boolean);

describe("Responses API", () => {
  it("streams a numbered hello word by word, then completes with usage", async () => {
    const reply = await responses(user("Hi there"));
    expect(reply.status).toBe(200);
    expect((reply.events as Event[]).map((event) => event.type)).toEqual([
      "response.created",
      "response.output_item.added",
      ...ofType(reply, "response.output_text.delta").map(() => "response.output_text.delta"),
      "response.output_item.done",
      "response.completed",
    ]);
    expect(ofType(reply, "response.output_text.delta").length).toBeGreaterThan(3);
    expect(responsesText(reply)).toBe("Hello from mock, reply #1");
    expect(ofType(reply, "response.output_item.done")[0]?.item).toMatchObject({
      type: "message",
      role: "assistant",
      content: [{ type: "output_text", text: "Hello from mock, reply #1" }],
    });
    const usage = ofType(reply, "response.completed")[0]?.response?.usage as Record<string, unknown>;
    expect(usage).toEqual({
      input_tokens: expect.any(Number),
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: expect.any(Number),
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: expect.any(Number),
    });
    expect((await responses(user("again"))).events.length).toBeGreaterThan(0);
    expect(responsesText(await responses(user("third")))).toBe("Hello from mock, reply #3");
  });

  it("answers RUNSHELL with a shell call running the rest of the line", async () => {
    const reply = await responses(user("Please RUNSHELL:  ls -la  \nand more"));
    const added = ofType(reply, "response.output_item.added")[0]?.item;
    const done = ofType(reply, "response.output_item.done")[0]?.item;
    expect(added).toMatchObject({ type: "function_call", name: "shell", call_id: "call_mock_1" });
    expect(done).toMatchObject({ type: "function_call", id: "fc_mock_1", call_id: "call_mock_1", name: "shell" });
    expect(JSON.parse(done?.arguments as string)).toEqual({ command: ["bash", "-lc", "ls -la"] });
  });

  it("runs `echo hi` when nothing follows RUNSHELL", async () => {
    const done = ofType(await responses(user("RUNSHELL")), "response.output_item.done")[0]?.item;
    expect(JSON.parse(done?.arguments as string)).toEqual({ command: ["bash", "-lc", "echo hi"] });
  });

  it("answers PLANIT with an update_plan call", async () => {
    const done = ofType(await responses(user("PLANIT please")), "response.output_item.done")[0]?.item;
    expect(done?.name).toBe("update_plan");
    expect(JSON.parse(done?.arguments as string)).toEqual({
      explanation: "mock plan",
      plan: [
        { step: "look", status: "completed" },
        { step: "fix", status: "in_progress" },
      ],
    });
  });

  it("echoes the last non-empty line of a trailing tool output", async () => {
    const reply = await responses(
      user("Please RUNSHELL: echo hi"),
      { type: "function_call", name: "shell", arguments: "{}", call_id: "c1" },
      { type: "function_call_output", call_id: "c1", output: "Exit code: 0\nOutput:\nhi\n\n" },
    );
    expect(responsesText(reply)).toBe("Tool said: hi");
  });

  it("accepts a plain string input", async () => {
    expect(responsesText(await post("/responses", { model: "m", input: "hello" }))).toBe("Hello from mock, reply #1");
  });
});

describe("Chat Completions API", () => {
  it("streams content pieces, a stop, a usage chunk and [DONE]", async () => {
    const reply = await chat({ role: "user", content: "Hi" });
    expect(reply.status).toBe(200);
    expect(chatText(reply)).toBe("Hello from mock, reply #1");
    expect(finishReasons(reply)).toEqual(["stop"]);
    expect(reply.events.at(-1)).toBe("[DONE]");
    expect(chunks(reply).at(-1)?.usage).toEqual({
      prompt_tokens: expect.any(Number),
      completion_tokens: expect.any(Number),
      total_tokens: expect.any(Number),
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
  });

  it("streams a RUNSHELL tool call as a named call and argument fragments", async () => {
    const reply = await chat({ role: "user", content: [{ type: "text", text: "RUNSHELL: pwd" }] });
    const call = chatToolCall(reply);
    expect(call).toMatchObject({ id: "call_mock_1", name: "shell" });
    expect(call.fragments).toBeGreaterThan(2);
    expect(JSON.parse(call.arguments)).toEqual({ command: ["bash", "-lc", "pwd"] });
    expect(finishReasons(reply)).toEqual(["tool_calls"]);
  });

  it("answers PLANIT with update_plan", async () => {
    const call = chatToolCall(await chat({ role: "user", content: "PLANIT" }));
    expect(call.name).toBe("update_plan");
    expect(JSON.parse(call.arguments)).toMatchObject({ explanation: "mock plan" });
  });

  it("echoes a trailing tool message", async () => {
    const reply = await chat(
      { role: "user", content: "RUNSHELL" },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "shell", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "c1", content: "line one\nline two\n" },
    );
    expect(chatText(reply)).toBe("Tool said: line two");
  });
});

describe("faults and errors", () => {
  it("serves queued status faults to the next requests in order, then recovers", async () => {
    server.failNext({ status: 503, times: 2 });
    server.failNext({ status: 429, body: { error: { message: "slow down" } }, headers: { "retry-after": "3" } });
    expect((await responses(user("a"))).status).toBe(503);
    expect((await chat({ role: "user", content: "b" })).status).toBe(503);
    const limited = await fetch(`${server.url}/responses`, { method: "POST", body: JSON.stringify({ model: "m", input: "c" }) });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("3");
    expect(await limited.json()).toEqual({ error: { message: "slow down" } });
    expect((await responses(user("d"))).status).toBe(200);
  });

  it("drops the connection after the given number of events", async () => {
    server.failNext({ dropAfterEvents: 3 });
    const response = await fetch(`${server.url}/responses`, { method: "POST", body: JSON.stringify({ model: "m", input: "x" }) });
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
    expect((await responses(user("y"))).status).toBe(200);
  });

  it("answers MOCK_401 with OpenAI's invalid key error", async () => {
    for (const reply of [await responses(user("MOCK_401")), await chat({ role: "user", content: "MOCK_401" })]) {
      expect(reply.status).toBe(401);
      expect(JSON.parse(reply.raw)).toMatchObject({
        error: { message: "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key" },
      });
    }
  });

  it("answers an unknown model with 404 model_not_found", async () => {
    const reply = await post("/responses", { model: "does-not-exist", input: [user("hi")] });
    expect(reply.status).toBe(404);
    expect(JSON.parse(reply.raw)).toMatchObject({ error: { code: "model_not_found" } });
  });

  it("answers bad JSON and bad bodies with 400 and keeps serving", async () => {
    const bad = await post("/responses", "{not json");
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.raw)).toMatchObject({ error: { message: expect.stringContaining("not valid JSON") } });
    expect((await post("/chat/completions", { model: "m" })).status).toBe(400);
    expect((await responses(user("still there?"))).status).toBe(200);
  });

  it("survives a client that disconnects mid-stream", async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/responses`, {
      method: "POST",
      body: JSON.stringify({ model: "m", input: "MOCK_SLOW" }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    expect(responsesText(await responses(user("next")))).toBe("Hello from mock, reply #2");
  });
});

describe("the rest of the surface", () => {
  it("lists a model", async () => {
    const response = await fetch(`${server.url}/models`);
    expect(await response.json()).toMatchObject({ object: "list", data: [{ id: "mock-model", object: "model" }] });
  });

  it("records path, headers, body and the client's port of every POST", async () => {
    await responses(user("one"));
    await post("/chat/completions", "{bad");
    expect(server.requests).toEqual([
      {
        path: "/v1/responses",
        headers: expect.objectContaining({ authorization: "Bearer sk-test" }),
        body: { model: "mock-model", input: [user("one")], stream: true },
        remotePort: expect.any(Number),
      },
      { path: "/v1/chat/completions", headers: expect.any(Object), body: "{bad", remotePort: expect.any(Number) },
    ]);
  });

  it("serves its base URL ending in /v1 on the chosen port", () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/v1`);
  });
});

// The app-server with several clients at once, over in-memory connections (the transport is not the point
// here): subscriptions, approvals seen by every subscriber and decided by one, overload, and the stdio line
// transport's own rules. Real manager, real workers, the mock model; every message is checked against Codex's
// schema as in app-server.test.ts.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { AppServer, MAX_REQUESTS_IN_FLIGHT } from "../src/app-server/server.js";
import type { Connection } from "../src/app-server/connection.js";
import { lineConnection } from "../src/app-server/line-connection.js";
import { loadConfig, type ConversationManager } from "../src/index.js";
import { JsonRpcPeer, type Message } from "./app-server-client.js";
import { useMockModel, useRuntime } from "./helpers.js";

const runtime = useRuntime();
const mock = useMockModel();
const peers: MemoryClient[] = [];

afterEach(() => {
  for (const peer of peers.splice(0)) expect(peer.invalid, "messages that do not match Codex's schema").toEqual([]);
});

/** A client on an in-memory connection; `stalled` makes it stop reading (its queue is then full). */
class MemoryClient extends JsonRpcPeer {
  stalled = false;
  closed = false;
  readonly connection: Connection;

  constructor(server: AppServer) {
    let deliver: (text: string) => void = () => {};
    const closeHandlers: (() => void)[] = [];
    super((text) => queueMicrotask(() => deliver(text)));
    const close = (): void => {
      if (this.closed) return;
      this.closed = true;
      for (const handler of closeHandlers.splice(0)) handler();
    };
    this.connection = {
      label: "memory",
      send: (text) => {
        if (this.closed || this.stalled) return false;
        this.receive(text);
        return true;
      },
      onMessage: (handler) => (deliver = handler),
      onClose: (handler) => void closeHandlers.push(handler),
      close,
    };
    server.connect(this.connection);
    peers.push(this);
  }
}

async function hostWithClients(
  count: number,
): Promise<{ home: string; server: AppServer; manager: ConversationManager; clients: MemoryClient[] }> {
  const home = await runtime.home();
  await writeFile(
    path.join(home, "config.toml"),
    `model = "mock-model"\nmodel_provider = "mock"\n[model_providers.mock]\nbase_url = "${mock.server.url}"\nwire_api = "responses"\nrequest_max_retries = 0\n`,
  );
  const manager = runtime.manager({ source: "vscode" });
  const server = new AppServer({ manager, home, loadConfig: (overrides) => loadConfig({ ...overrides, home }) });
  const clients = Array.from({ length: count }, () => new MemoryClient(server));
  await Promise.all(clients.map((client) => client.handshake()));
  return { home, server, manager, clients };
}

const text = (value: string) => [{ type: "text", text: value, text_elements: [] }];
const turnDone = (client: JsonRpcPeer, turnId: string): Promise<Message> =>
  client.notification("turn/completed", (params) => (params.turn as { id: string }).id === turnId);

describe("app-server with several clients", () => {
  it("sends a thread's events to its subscribers only; an approval goes to each, the first answer decides, all are told", async () => {
    const { home, clients } = await hostWithClients(3);
    const [a, b, c] = clients as [MemoryClient, MemoryClient, MemoryClient];
    const { thread } = await a.call<{ thread: { id: string } }>("thread/start", { cwd: home, approvalPolicy: "untrusted" });
    await b.call("thread/resume", { threadId: thread.id });

    const { turn } = await a.call<{ turn: { id: string } }>("turn/start", { threadId: thread.id, input: text("RUNSHELL: touch x.txt") });
    const askA = await a.serverRequest("item/commandExecution/requestApproval");
    const askB = await b.serverRequest("item/commandExecution/requestApproval");
    b.respond(askB.id, { decision: "acceptForSession" });
    await a.notification("serverRequest/resolved", (params) => params.requestId === askA.id);
    await b.notification("serverRequest/resolved", (params) => params.requestId === askB.id);
    await turnDone(a, turn.id);
    await turnDone(b, turn.id);
    expect(c.methodsFor(thread.id).filter((method) => method !== "thread/started")).toEqual([]);

    // B leaves: the next turn reaches A only.
    expect(await b.call("thread/unsubscribe", { threadId: thread.id })).toEqual({ status: "unsubscribed" });
    const next = await a.call<{ turn: { id: string } }>("turn/start", { threadId: thread.id, input: text("hello") });
    await turnDone(a, next.turn.id);
    expect(b.received.filter((message) => (message.params?.turn as { id?: string } | undefined)?.id === next.turn.id)).toEqual([]);
  });

  it("takes image input with the text, as the user message's content", async () => {
    const { home, clients } = await hostWithClients(1);
    const [client] = clients as [MemoryClient];
    const { thread } = await client.call<{ thread: { id: string } }>("thread/start", { cwd: home });
    const image = "data:image/png;base64,iVBORw0KGgo=";
    const input = [{ type: "image", url: image }, ...text("what is this?")];
    const { turn } = await client.call<{ turn: { id: string } }>("turn/start", { threadId: thread.id, input });
    const user = await client.notification("item/completed", (params) => (params.item as { type: string }).type === "userMessage");
    expect(user.params?.item).toMatchObject({ content: [{ type: "image", url: image }, { type: "text", text: "what is this?" }] });
    expect((await turnDone(client, turn.id)).params?.turn).toMatchObject({ status: "completed" });
    expect((await client.request("turn/start", { threadId: thread.id, input: [{ type: "image" }] })).error).toMatchObject({ code: -32602 });
  });

  it("tells every client when a conversation's supervisor gives up on it, and its subscribers that the thread closed", async () => {
    const { home, manager, clients } = await hostWithClients(2);
    const [owner, watcher] = clients as [MemoryClient, MemoryClient];
    const { thread } = await owner.call<{ thread: { id: string } }>("thread/start", { cwd: home });
    manager.terminate(thread.id);
    for (const client of [owner, watcher]) {
      const change = await client.notification("llmx/supervision/changed", (params) => params.state === "failed");
      expect(change.params).toMatchObject({ threadId: thread.id, parentThreadId: null, cause: expect.stringMatching(/killed/) as unknown });
    }
    await owner.notification("thread/closed", (params) => params.threadId === thread.id);
    expect(watcher.methodsFor(thread.id)).not.toContain("thread/closed");
    expect(await owner.call("thread/loaded/list", {})).toEqual({ data: [], nextCursor: null });
    expect((await owner.request("turn/start", { threadId: thread.id, input: text("hi") })).error).toMatchObject({ code: -32600 });
  });

  it("disconnects a client that stops reading, and goes on serving the others", async () => {
    const { home, clients } = await hostWithClients(2);
    const [reader, stalled] = clients as [MemoryClient, MemoryClient];
    stalled.stalled = true;
    // thread/started is sent to every client: the stalled one cannot take it.
    const { thread } = await reader.call<{ thread: { id: string } }>("thread/start", { cwd: home });
    await reader.notification("thread/started");
    expect(stalled.closed).toBe(true);
    const { turn } = await reader.call<{ turn: { id: string } }>("turn/start", { threadId: thread.id, input: text("hi") });
    expect((await turnDone(reader, turn.id)).params?.turn).toMatchObject({ status: "completed" });
  });

  it(`answers -32001 past ${MAX_REQUESTS_IN_FLIGHT} requests in progress, as Codex does when overloaded`, async () => {
    const { home, clients } = await hostWithClients(1);
    const [client] = clients as [MemoryClient];
    const { thread } = await client.call<{ thread: { id: string } }>("thread/start", { cwd: home });
    const { turn } = await client.call<{ turn: { id: string } }>("turn/start", { threadId: thread.id, input: text("MOCK_SLOW go") });
    await client.notification("item/agentMessage/delta");
    // An interrupt is answered only when its turn ends: these stay in progress.
    const replies = Array.from({ length: MAX_REQUESTS_IN_FLIGHT + 2 }, () =>
      client.request("turn/interrupt", { threadId: thread.id, turnId: turn.id }),
    );
    const answered = await Promise.all(replies);
    const overloaded = answered.filter((reply) => reply.error !== undefined);
    expect(overloaded).toEqual([
      expect.objectContaining({ error: { code: -32001, message: "Server overloaded; retry later." } }),
      expect.objectContaining({ error: { code: -32001, message: "Server overloaded; retry later." } }),
    ]);
    expect(answered.filter((reply) => reply.error === undefined)).toHaveLength(MAX_REQUESTS_IN_FLIGHT);
    expect((await turnDone(client, turn.id)).params?.turn).toMatchObject({ status: "interrupted" });
  });

  it("steers a running turn, and runs review and compaction as turns of the thread", async () => {
    const { home, clients } = await hostWithClients(1);
    const [client] = clients as [MemoryClient];
    const { thread } = await client.call<{ thread: { id: string } }>("thread/start", { cwd: home });
    const { turn } = await client.call<{ turn: { id: string } }>("turn/start", { threadId: thread.id, input: text("MOCK_SLOW go") });
    await client.notification("turn/started");
    expect((await client.request("turn/steer", { threadId: thread.id, expectedTurnId: "other", input: text("x") })).error).toMatchObject({
      code: -32600,
    });
    expect(await client.call("turn/steer", { threadId: thread.id, expectedTurnId: turn.id, input: text("also this") })).toEqual({
      turnId: turn.id,
    });
    await turnDone(client, turn.id);

    const review = await client.call<{ turn: { id: string }; reviewThreadId: string }>("review/start", {
      threadId: thread.id,
      target: { type: "custom", instructions: "look for bugs" },
    });
    expect(review.reviewThreadId).toBe(thread.id);
    await turnDone(client, review.turn.id);
    expect(client.received).toContainEqual(
      expect.objectContaining({ method: "item/completed", params: expect.objectContaining({ item: expect.objectContaining({ type: "exitedReviewMode" }) }) }),
    );

    expect(await client.call("thread/compact/start", { threadId: thread.id })).toEqual({});
    await client.notification("turn/completed", (params) => (params.turn as { id: string }).id !== turn.id && (params.turn as { id: string }).id !== review.turn.id);
  });
});

describe("lineConnection", () => {
  it("splits incoming lines (CRLF too, a last line without newline too) and refuses to queue past its capacity", async () => {
    const input = new PassThrough();
    const output = new PassThrough({ highWaterMark: 1 });
    const connection = lineConnection(input, output, "test", { capacity: 2 });
    const seen: string[] = [];
    connection.onMessage((line) => seen.push(line));
    let closed = false;
    connection.onClose(() => (closed = true));
    input.write('{"a":1}\r\n\n{"b"');
    input.end(":2}");
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['{"a":1}', '{"b":2}']);
    expect(closed).toBe(true);
  });

  it("counts what the stream has not flushed: a reader that does not read fills the queue", () => {
    const input = new PassThrough();
    // Nobody reads `output`: its writes stay unflushed.
    const output = new PassThrough({ highWaterMark: 1 });
    const connection = lineConnection(input, output, "test", { capacity: 3 });
    const accepted = Array.from({ length: 5 }, (_, i) => connection.send(`{"n":${i}}`));
    expect(accepted).toEqual([true, true, true, false, false]);
  });
});

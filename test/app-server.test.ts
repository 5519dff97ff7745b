// `llmx app-server` as a Codex client drives it: the built CLI in a child process, JSON-RPC over stdio, the mock
// model over real HTTP, real worker threads and rollouts. Every message the server sends is validated against
// Codex 0.169's schema (AppServerClient records any that fails; each test ends by expecting none).
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startMockModelServer, type MockModelServer } from "../src/mock-model/index.js";
import { WebSocket } from "ws";
import { AppServerClient, CLI, JsonRpcPeer, type Message } from "./app-server-client.js";
import { mockConfigToml, useRuntime } from "./helpers.js";

const runtime = useRuntime();
let server: MockModelServer;
const clients: AppServerClient[] = [];

beforeAll(async () => {
  server = await startMockModelServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  const open = clients.splice(0);
  await Promise.all(open.map((client) => client.close()));
  for (const client of open) expect(client.invalid, "messages that do not match Codex's schema").toEqual([]);
});

async function mockHome(): Promise<string> {
  const home = await runtime.home();
  await writeFile(path.join(home, "config.toml"), mockConfigToml(server.url));
  return home;
}

async function connect(home: string): Promise<AppServerClient> {
  const client = await AppServerClient.initialized(home);
  clients.push(client);
  return client;
}

type Thread = { id: string; parentThreadId: string | null; forkedFromId: string | null; preview: string; turns: Turn[] };
type Turn = { id: string; status: string; items: { type: string; text?: string; status?: string }[] };

async function startThread(client: AppServerClient, home: string, settings: Record<string, unknown> = {}): Promise<string> {
  const result = await client.call<{ thread: Thread }>("thread/start", { cwd: home, approvalPolicy: "never", sandbox: "read-only", ...settings });
  return result.thread.id;
}

async function startTurn(client: AppServerClient, threadId: string, text: string): Promise<string> {
  const result = await client.call<{ turn: Turn }>("turn/start", { threadId, input: [{ type: "text", text, text_elements: [] }] });
  return result.turn.id;
}

const turnCompleted = (client: AppServerClient, turnId: string): Promise<Message> =>
  client.notification("turn/completed", (params) => (params.turn as Turn).id === turnId);

const completedTurn = async (client: AppServerClient, turnId: string): Promise<Turn> =>
  (await turnCompleted(client, turnId)).params?.turn as Turn;

describe("llmx app-server: the handshake and bad input", () => {
  it("answers nothing but initialize before it, and refuses a second initialize, as Codex does", async () => {
    const home = await mockHome();
    const client = AppServerClient.start(home);
    clients.push(client);
    expect(await client.request("thread/list", {})).toEqual({ id: 1, error: { code: -32600, message: "Not initialized" } });
    const init = await client.call<{ userAgent: string; codexHome: string }>("initialize", {
      clientInfo: { name: "probe", title: null, version: "0.0.1" },
    });
    expect(init.codexHome).toBe(home);
    expect(init.userAgent).toMatch(/^probe\//);
    client.notify("initialized");
    expect((await client.request("initialize", { clientInfo: { name: "probe", version: "1" } })).error).toEqual({
      code: -32600,
      message: "Already initialized",
    });
    expect(await client.call("thread/loaded/list", {})).toEqual({ data: [], nextCursor: null });
  });

  it("answers unknown methods, malformed JSON, bad params and unknown threads with JSON-RPC errors, and keeps serving", async () => {
    const home = await mockHome();
    const client = await connect(home);
    const unknown = await client.request("no/such/method", {});
    expect(unknown.error?.code).toBe(-32600);
    expect(unknown.error?.message).toMatch(/^Invalid request: unknown variant `no\/such\/method`, expected one of `initialize`/);

    client.sendRaw("{not json");
    const parseError = await client.waitFor((message) => message.id === null);
    expect(parseError.error).toMatchObject({ code: -32700 });

    const badParams = await client.request("turn/start", { input: [] });
    expect(badParams.error?.code).toBe(-32602);
    expect(badParams.error?.message).toMatch(/`threadId`/);
    const badInput = await client.request("turn/start", { threadId: "x", input: [{ type: "video" }] });
    expect(badInput.error).toMatchObject({ code: -32602, message: expect.stringMatching(/`input\.0\.type`/) as unknown });

    const missing = "01a20000-0000-7000-8000-000000000000";
    for (const method of ["turn/start", "thread/resume", "thread/read", "thread/archive"]) {
      const reply = await client.request(method, { threadId: missing, input: [] });
      expect(reply.error, method).toEqual({ code: -32600, message: `thread not found: ${missing}` });
    }
    expect((await client.request("thread/start", { cwd: path.join(home, "nowhere") })).error).toMatchObject({
      code: -32600,
      message: expect.stringMatching(/does not exist/) as unknown,
    });
    expect(await client.call("thread/loaded/list", {})).toEqual({ data: [], nextCursor: null });
  });

  it("survives junk: every method with params of the wrong shape, non-object messages, stray responses", async () => {
    const home = await mockHome();
    const client = await connect(home);
    const methods = [
      "thread/start", "thread/resume", "thread/fork", "thread/list", "thread/read", "thread/loaded/list", "thread/archive",
      "thread/unarchive", "thread/unsubscribe", "thread/name/set", "thread/compact/start", "turn/start", "turn/interrupt",
      "turn/steer", "review/start", "model/list", "config/read", "account/read", "getAuthStatus", "llmx/supervision/list",
    ];
    const junk: unknown[] = [42, "x", [], [1], { threadId: 5 }, { threadId: "not-a-uuid", input: "hi" }, { limit: -1 }, { cursor: "nope|nope" }];
    for (const method of methods) {
      for (const params of junk) {
        const reply = await client.request(method, params);
        expect(reply.error ?? reply.result, `${method} ${JSON.stringify(params)}`).toBeDefined();
        if (reply.error) expect([-32600, -32602, -32603]).toContain(reply.error.code);
      }
    }
    for (const raw of ["[]", "null", "42", '"text"', '{"id":{}}', '{"id":99,"result":{"decision":"accept"}}', '{"id":7,"error":{"code":1}}']) {
      client.sendRaw(raw);
    }
    client.notify("initialized", { anything: true });
    // Still serving (thread/start takes the objects with unknown fields, as Codex ignores what it does not know).
    expect(await client.call("account/read", {})).toEqual({ account: null, requiresOpenaiAuth: false });
  });

  it("answers the discovery calls clients make at start-up (empty where llmx has nothing to offer)", async () => {
    const home = await mockHome();
    const client = await connect(home);
    expect(await client.call("skills/list", {})).toEqual({ data: [] });
    expect(await client.call("mcpServerStatus/list", {})).toEqual({ data: [], nextCursor: null });
    expect(await client.call("account/read", {})).toEqual({ account: null, requiresOpenaiAuth: false });
    expect(await client.call("getAuthStatus", {})).toMatchObject({ authMethod: null });
    const models = await client.call<{ data: { id: string; isDefault: boolean }[] }>("model/list", {});
    expect(models.data).toEqual([expect.objectContaining({ id: "mock-model", isDefault: true })]);
    const config = await client.call<{ config: Record<string, unknown> }>("config/read", {});
    expect(config.config).toMatchObject({ model: "mock-model", model_provider: "mock" });
  });
});

describe("llmx app-server: the command", () => {
  it("exits 0 when standard input closes, shutting its conversations down", async () => {
    const home = await mockHome();
    const client = await AppServerClient.initialized(home);
    const threadId = await startThread(client, home);
    expect(await client.close()).toBe(0);
    expect(client.invalid).toEqual([]);
    expect(client.received).toContainEqual(expect.objectContaining({ method: "thread/started" }));
    // Its rollout is closed: another host resumes it at once.
    const next = await connect(home);
    expect((await next.call<{ thread: Thread }>("thread/resume", { threadId })).thread.id).toBe(threadId);
  });

  it("refuses --listen URLs it cannot serve, and a non-loopback WebSocket address without a token", async () => {
    const home = await mockHome();
    const run = promisify(execFile);
    for (const [url, message] of [
      ["ws://0.0.0.0:0", /loopback/],
      ["http://x", /expected stdio:\/\/ or ws:\/\/HOST:PORT/],
    ] as const) {
      const failed = await run(process.execPath, [CLI, "app-server", "--listen", url], { cwd: home, timeout: 30_000 }).catch(
        (error: unknown) => error as { code: number; stderr: string },
      );
      expect(failed).toMatchObject({ code: 1, stderr: expect.stringMatching(message) as unknown });
    }
  });

  it("serves WebSocket clients with --listen ws://, is listed by llmx ps, and removes its host files at SIGTERM", async () => {
    const home = await mockHome();
    const child = spawn(process.execPath, [CLI, "app-server", "--listen", "ws://127.0.0.1:0"], {
      cwd: home,
      env: { ...process.env, LLMX_HOME: home, HOME: home },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = once(child, "exit");
    try {
      let stderr = "";
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString("utf8");
          const match = /listening on (ws:\/\/\S+)/.exec(stderr);
          if (match) resolve(match[1] as string);
        });
        child.once("exit", () => reject(new Error(`app-server exited: ${stderr}`)));
      });
      const socket = new WebSocket(url);
      await once(socket, "open");
      const peer = new JsonRpcPeer((text) => socket.send(text));
      socket.on("message", (data: Buffer) => peer.receive(data.toString("utf8")));
      await peer.handshake();
      const { thread } = await peer.call<{ thread: Thread }>("thread/start", { cwd: home, approvalPolicy: "never", sandbox: "read-only" });
      const { turn } = await peer.call<{ turn: Turn }>("turn/start", { threadId: thread.id, input: [{ type: "text", text: "hi", text_elements: [] }] });
      await peer.notification("turn/completed", (params) => (params.turn as Turn).id === turn.id);
      expect(peer.invalid, "messages that do not match Codex's schema").toEqual([]);

      const ps = await promisify(execFile)(process.execPath, [CLI, "ps", "--json", "--home", home], { timeout: 30_000 });
      const hosts = JSON.parse(ps.stdout) as { pid: number; tree: { threadId: string; state: string }[] }[];
      expect(JSON.stringify(hosts)).toContain(thread.id);
      socket.close();
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
    expect(readdirSync(path.join(home, "app-server")).filter((name) => name.startsWith(`${child.pid}.`))).toEqual([]);
  });
});

describe("llmx app-server: turns", () => {
  it("streams a turn in Codex's order: status, turn/started, items with deltas, token usage, turn/completed", async () => {
    const home = await mockHome();
    const client = await connect(home);
    const threadId = await startThread(client, home);
    await client.notification("thread/started", (params) => (params.thread as Thread).id === threadId);
    const turnId = await startTurn(client, threadId, "hi");
    const turn = await completedTurn(client, turnId);

    expect(turn).toMatchObject({ status: "completed", error: null, items: [{ type: "agentMessage" }] });
    const reply = turn.items[0]?.text ?? "";
    expect(reply).toMatch(/^Hello from mock, reply #\d+$/);
    const methods = client.methodsFor(threadId);
    const start = methods.indexOf("turn/started");
    expect(methods.slice(start - 1, start + 3)).toEqual(["thread/status/changed", "turn/started", "item/started", "item/completed"]);
    expect(methods.slice(-3)).toEqual(["thread/tokenUsage/updated", "thread/status/changed", "turn/completed"]);
    const deltas = client.received.filter((message) => message.method === "item/agentMessage/delta").map((message) => message.params?.delta);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join("")).toBe(reply);
    const user = await client.notification("item/completed", (params) => (params.item as { type: string }).type === "userMessage");
    expect(user.params?.item).toMatchObject({ content: [{ type: "text", text: "hi" }] });
  });

  it("asks approval as a server request: accept runs the command, decline does not, each resolved for the client", async () => {
    const home = await mockHome();
    const client = await connect(home);
    const threadId = await startThread(client, home, { approvalPolicy: "untrusted" });

    const accepted = await startTurn(client, threadId, "RUNSHELL: touch approved.txt && echo hi");
    const ask = await client.serverRequest("item/commandExecution/requestApproval", (params) => params.turnId === accepted);
    expect(ask.params).toMatchObject({ threadId, itemId: expect.any(String) as unknown, command: "bash -lc 'touch approved.txt && echo hi'" });
    expect(client.received).toContainEqual(
      expect.objectContaining({ method: "thread/status/changed", params: { threadId, status: { type: "active", activeFlags: ["waitingOnApproval"] } } }),
    );
    client.respond(ask.id, { decision: "accept" });
    await client.notification("serverRequest/resolved", (params) => params.requestId === ask.id && params.threadId === threadId);
    const ran = await client.notification("item/completed", (params) => (params.item as { type: string }).type === "commandExecution");
    expect(ran.params?.item).toMatchObject({ status: "completed", exitCode: 0, aggregatedOutput: "hi\n" });
    await completedTurn(client, accepted);
    expect(existsSync(path.join(home, "approved.txt"))).toBe(true);

    const declined = await startTurn(client, threadId, "RUNSHELL: touch declined.txt");
    const second = await client.serverRequest("item/commandExecution/requestApproval", (params) => params.turnId === declined);
    client.respond(second.id, { decision: "decline" });
    const refused = await client.notification(
      "item/completed",
      (params) => params.turnId === declined && (params.item as { type: string }).type === "commandExecution",
    );
    expect(refused.params?.item).toMatchObject({ status: "declined" });
    expect(await completedTurn(client, declined)).toMatchObject({ status: "completed" });
    expect(existsSync(path.join(home, "declined.txt"))).toBe(false);
  });

  it("interrupts a streaming turn: the answer comes when the turn ends, as interrupted", async () => {
    const home = await mockHome();
    const client = await connect(home);
    const threadId = await startThread(client, home);
    const turnId = await startTurn(client, threadId, "MOCK_SLOW please");
    await client.notification("item/agentMessage/delta", (params) => params.turnId === turnId);
    const answer = client.request("turn/interrupt", { threadId, turnId });
    const turn = await completedTurn(client, turnId);
    expect(await answer).toMatchObject({ result: {} });
    expect(turn).toMatchObject({ status: "interrupted", items: [] });
    const order = client.received.map((message) => (message.method === undefined ? "response" : message.method));
    expect(order.lastIndexOf("response")).toBeLessThan(order.lastIndexOf("turn/completed"));
    // The thread goes on after an interrupt.
    expect(await completedTurn(client, await startTurn(client, threadId, "again"))).toMatchObject({ status: "completed" });
  });
});

describe("llmx app-server: threads on disk", () => {
  it("lists and reads threads from their rollouts, resumes and forks them, in this process and the next", async () => {
    const home = await mockHome();
    const first = await connect(home);
    const threadId = await startThread(first, home);
    await completedTurn(first, await startTurn(first, threadId, "remember the word kiwi"));

    const listed = await first.call<{ data: Thread[] }>("thread/list", { limit: 5 });
    expect(listed.data).toEqual([expect.objectContaining({ id: threadId, preview: "remember the word kiwi" })]);
    const read = await first.call<{ thread: Thread }>("thread/read", { threadId, includeTurns: true });
    expect(read.thread.turns).toHaveLength(1);
    expect(read.thread.turns[0]?.items.map((item) => item.type)).toEqual(["userMessage", "agentMessage"]);

    expect(await first.call("thread/unsubscribe", { threadId })).toEqual({ status: "unsubscribed" });
    expect(await first.call("thread/unsubscribe", { threadId })).toEqual({ status: "notSubscribed" });
    const resumed = await first.call<{ thread: Thread }>("thread/resume", { threadId });
    expect(resumed.thread.turns).toHaveLength(1);

    const fork = await first.call<{ thread: Thread }>("thread/fork", { threadId });
    expect(fork.thread).toMatchObject({ forkedFromId: threadId, preview: "remember the word kiwi" });
    expect(fork.thread.id).not.toBe(threadId);
    expect(fork.thread.turns).toHaveLength(1);
    await first.notification("thread/started", (params) => (params.thread as Thread).id === fork.thread.id);
    expect(await completedTurn(first, await startTurn(first, fork.thread.id, "and now?"))).toMatchObject({ status: "completed" });
    await first.close();

    // A new host resumes the thread from its rollout, same id, and goes on with it.
    const second = await connect(home);
    const again = await second.call<{ thread: Thread }>("thread/resume", { threadId });
    expect(again.thread).toMatchObject({ id: threadId, turns: [expect.objectContaining({ status: "completed" })] });
    expect(await completedTurn(second, await startTurn(second, threadId, "what was the word?"))).toMatchObject({ status: "completed" });
    const reread = await second.call<{ thread: Thread }>("thread/read", { threadId, includeTurns: true });
    expect(reread.thread.turns).toHaveLength(2);
  });

  it("archives a thread into archived_sessions and unarchives it back", async () => {
    const home = await mockHome();
    const client = await connect(home);
    const threadId = await startThread(client, home);
    await completedTurn(client, await startTurn(client, threadId, "to be archived"));
    expect(await client.call("thread/archive", { threadId })).toEqual({});
    await client.notification("thread/archived", (params) => params.threadId === threadId);
    await client.notification("llmx/supervision/changed", (params) => params.threadId === threadId && params.state === "removed");
    expect((await client.call<{ data: Thread[] }>("thread/list", {})).data).toEqual([]);
    expect((await client.call<{ data: Thread[] }>("thread/list", { archived: true })).data).toEqual([
      expect.objectContaining({ id: threadId }),
    ]);
    expect(await client.call("thread/loaded/list", {})).toEqual({ data: [], nextCursor: null });
    const back = await client.call<{ thread: Thread }>("thread/unarchive", { threadId });
    expect(back.thread.id).toBe(threadId);
    expect((await client.call<{ data: Thread[] }>("thread/list", {})).data).toEqual([expect.objectContaining({ id: threadId })]);
  });

  it("a thread started through the app-server continues with `llmx exec resume <id>`", async () => {
    const home = await mockHome();
    const client = await connect(home);
    const threadId = await startThread(client, home);
    await completedTurn(client, await startTurn(client, threadId, "first"));
    await client.close();
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, "exec", "resume", threadId, "second"], {
      cwd: home,
      env: { ...process.env, LLMX_HOME: home, HOME: home },
      timeout: 30_000,
    });
    expect(stdout).toMatch(/^Hello from mock, reply #\d+\n$/);
    const resumed = await connect(home);
    const read = await resumed.call<{ thread: Thread }>("thread/read", { threadId, includeTurns: true });
    const exchange = ["userMessage", "agentMessage"];
    expect(read.thread.turns.map((turn) => turn.items.map((item) => item.type))).toEqual([exchange, exchange]);
  });
});

describe("llmx app-server: sub-agents and supervision", () => {
  it("a sub-agent's approval names its own thread and its parent, shows in the supervision tree, and the answer reaches it", async () => {
    const home = await mockHome();
    const client = await connect(home);
    const parent = await startThread(client, home, { approvalPolicy: "untrusted" });
    const turnId = await startTurn(client, parent, "DELEGATE: RUNSHELL: touch from-sub-agent.txt");
    const ask = await client.serverRequest("item/commandExecution/requestApproval");
    const child = ask.params?.threadId as string;
    expect(child).not.toBe(parent);
    expect(ask.params).toMatchObject({ parentThreadId: parent, turnId });
    const announced = await client.notification("thread/started", (params) => (params.thread as Thread).id === child);
    expect(announced.params?.thread).toMatchObject({ parentThreadId: parent });

    const tree = await client.call<{ data: Record<string, unknown>[] }>("llmx/supervision/list", {});
    expect(tree.data).toEqual([
      expect.objectContaining({
        threadId: parent,
        parentThreadId: null,
        state: "active",
        model: "mock-model",
        cwd: home,
        pendingApprovals: 0,
        children: [expect.objectContaining({ threadId: child, parentThreadId: parent, pendingApprovals: 1, model: "mock-model" })],
      }),
    ]);

    client.respond(ask.id, { decision: "accept" });
    await client.notification("serverRequest/resolved", (params) => params.requestId === ask.id && params.threadId === child);
    expect(await completedTurn(client, turnId)).toMatchObject({ status: "completed" });
    expect(existsSync(path.join(home, "from-sub-agent.txt"))).toBe(true);
  });
});

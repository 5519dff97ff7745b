// The session, run in-process: runConversationTask on one end of a MessageChannel, driven from the other end by
// the real Conversation handle, with the offline model, a fixed clock and counted item ids.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { OFFLINE_MODEL, createConfig, type ConversationConfig } from "../src/config.js";
import { InternalAgentDiedError, UnknownApprovalError } from "../src/errors.js";
import type { Conversation } from "../src/manager/conversation.js";
import { OFFLINE_CONTEXT_WINDOW, createOfflineModel } from "../src/model/offline.js";
import type { ModelClient, ModelStreamEvent } from "../src/model/types.js";
import type { Event, EventMsg, MessageItem, ResponseItem, RolloutItem } from "../src/protocol/index.js";
import { rolloutPathFor } from "../src/rollout/paths.js";
import { nodeRolloutFileIo, type RolloutFileIo } from "../src/rollout/recorder.js";
import { readRolloutHistory } from "../src/rollout/reader.js";
import type { SessionDeps, SessionInit } from "../src/session/session.js";
import { runConversationTask } from "../src/session/worker-task.js";
import { type Clock, systemClock } from "../src/util/clock.js";
import { CLI_VERSION, DEFAULT_ORIGINATOR } from "../src/version.js";
import { readTurn, runTurn, textInput, useRuntime } from "./helpers.js";
import { linkConversation } from "./in-process.js";

const runtime = useRuntime();
// Registered after useRuntime's hook, so it runs first: sessions stop before their homes are removed.
const sessions: Conversation[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((conversation) => conversation.shutdown({ timeoutMs: 2_000 })));
  vi.unstubAllEnvs();
});
beforeEach(() => {
  // The initial context names the user's shell.
  vi.stubEnv("SHELL", "/bin/zsh");
});

const CONVERSATION_ID = "019a9000-0000-7000-8000-00000000000a";
const NOW = new Date();
const fixedClock: Clock = { ...systemClock, now: () => NOW };

type Session = {
  conversation: Conversation;
  task: Promise<unknown>;
  home: string;
  rolloutPath: string;
  /** The first event the session sent. */
  configured: Event;
};

async function startSession(
  options: { model?: ModelClient; config?: Partial<ConversationConfig>; rolloutIo?: RolloutFileIo } = {},
): Promise<Session> {
  const home = await runtime.home();
  const config = createConfig({ home, cwd: home, ...options.config });
  const rolloutPath = rolloutPathFor(home, CONVERSATION_ID, NOW);
  const init: SessionInit = {
    conversationId: CONVERSATION_ID,
    rolloutPath,
    config,
    initialHistory: { type: "new" },
    source: "exec",
  };
  let items = 0;
  const deps: SessionDeps = {
    clock: fixedClock,
    ids: { conversationId: () => CONVERSATION_ID, itemId: () => `item-${++items}` },
    createModel: () => Promise.resolve(options.model ?? createOfflineModel()),
    ...(options.rolloutIo ? { rolloutIo: options.rolloutIo } : {}),
  };
  const { conversation, task, sessionConfigured } = linkConversation(init, (payload) => runConversationTask(payload, deps));
  sessions.push(conversation);
  const msg = await sessionConfigured;
  if (msg === undefined) throw new Error("no session_configured");
  const configured: Event = { id: "", msg };
  return { conversation, task, home, rolloutPath, configured };
}

/** The offline model, whose first reply streams long enough to be interrupted; later replies are quick. */
function slowFirstReply(): ModelClient {
  const slow = createOfflineModel({ deltaDelayMs: 20, repeat: 1_000 });
  const quick = createOfflineModel();
  let responses = 0;
  return {
    contextWindow: (model) => quick.contextWindow(model),
    stream: (request, signal) => (responses++ === 0 ? slow : quick).stream(request, signal),
  };
}

/**
 * A model whose first response calls a tool, and finishes only when the test says so; later responses are the
 * offline model's. The tool call makes the turn ask the model again, which is when injected input is taken.
 */
function firstResponseCallsATool(): { client: ModelClient; finishFirstResponse(): void } {
  const offline = createOfflineModel();
  let finishFirstResponse!: () => void;
  const finished = new Promise<void>((resolve) => (finishFirstResponse = resolve));
  let responses = 0;
  async function* callATool(signal: AbortSignal): AsyncIterable<ModelStreamEvent> {
    yield { type: "output_item_added", itemId: "fc_1", kind: "function_call" };
    await Promise.race([finished, new Promise((_, reject) => signal.addEventListener("abort", reject))]);
    yield { type: "output_item_done", itemId: "fc_1", item: TOOL_CALL };
    yield { type: "completed", responseId: "resp_1", usage: undefined };
  }
  return {
    client: {
      contextWindow: (model) => offline.contextWindow(model),
      stream: (request, signal) => (responses++ === 0 ? callATool(signal) : offline.stream(request, signal)),
    },
    finishFirstResponse,
  };
}
const TOOL_CALL: ResponseItem = { type: "function_call", name: "lookup", arguments: "{}", call_id: "call_1" };

/** Reads events up to and including the first one that matches. */
async function readUntil(conversation: Conversation, matches: (event: Event) => boolean): Promise<Event[]> {
  const events: Event[] = [];
  for (;;) {
    const event = await conversation.nextEvent();
    events.push(event);
    if (matches(event)) return events;
  }
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

const isDelta = (event: Event): boolean => event.msg.type === "agent_message_delta";
const offlineReply = (userMessages: number, said: string): string => `Offline reply #${userMessages}: you said "${said}".`;
/** The offline model's deltas: words with their trailing space. */
const words = (text: string): string[] => text.match(/\S+\s*/g) ?? [];

const userText = (text: string): MessageItem => ({ type: "message", role: "user", content: [{ type: "input_text", text }] });
const assistantText = (text: string): MessageItem => ({
  type: "message",
  role: "assistant",
  content: [{ type: "output_text", text }],
});
const responseItem = (payload: ResponseItem): RolloutItem => ({ type: "response_item", payload });
const eventItem = (payload: EventMsg): RolloutItem => ({ type: "event_msg", payload });
const responseItems = (items: readonly RolloutItem[]): ResponseItem[] =>
  items.flatMap((item) => (item.type === "response_item" ? [item.payload] : []));
const environmentContext = (...lines: string[]): string =>
  ["<environment_context>", ...lines.map((line) => `  ${line}`), "</environment_context>"].join("\n");

describe("session", () => {
  it("first announces itself with session_configured under the initial submission id", async () => {
    const { configured, rolloutPath } = await startSession();

    expect(configured).toEqual({
      id: "",
      msg: {
        type: "session_configured",
        session_id: CONVERSATION_ID,
        model: OFFLINE_MODEL,
        history_log_id: 0,
        history_entry_count: 0,
        rollout_path: rolloutPath,
      },
    });
  });

  it("a turn emits its events in Codex's order, all under the submission's id", async () => {
    const { conversation } = await startSession();
    const reply = offlineReply(1, "hello");

    const id = await conversation.submit(textInput("hello"));
    const events = await readTurn(conversation, id);

    const turn = { thread_id: CONVERSATION_ID, turn_id: id };
    const userItem = { UserMessage: { id: "item-1", content: [{ type: "text", text: "hello" }] } };
    expect(events).toEqual(
      [
        { type: "task_started", model_context_window: OFFLINE_CONTEXT_WINDOW },
        { type: "item_started", ...turn, item: userItem },
        { type: "item_completed", ...turn, item: userItem },
        { type: "user_message", message: "hello", images: [] },
        { type: "item_started", ...turn, item: { AgentMessage: { id: "msg_offline_1", content: [] } } },
        ...words(reply).flatMap((delta) => [
          { type: "agent_message_content_delta", ...turn, item_id: "msg_offline_1", delta },
          { type: "agent_message_delta", delta },
        ]),
        { type: "item_completed", ...turn, item: { AgentMessage: { id: "msg_offline_1", content: [{ Text: { text: reply } }] } } },
        { type: "agent_message", message: reply },
        {
          type: "token_count",
          info: expect.objectContaining({ model_context_window: OFFLINE_CONTEXT_WINDOW }),
          rate_limits: null,
        },
        { type: "task_complete", last_agent_message: reply },
      ].map((msg) => ({ id, msg })),
    );
    const deltas = events.flatMap((event) => (event.msg.type === "agent_message_delta" ? [event.msg.delta] : []));
    expect(deltas.join("")).toBe(reply);
  });

  it("an interrupt while the model streams aborts the turn without task_complete, and the next turn runs normally", async () => {
    const { conversation } = await startSession({ model: slowFirstReply() });

    const interrupted = await conversation.submit(textInput("tell me a long story"));
    const started = await readUntil(conversation, isDelta);
    await conversation.submit({ type: "interrupt" });
    const rest = await readTurn(conversation, interrupted);

    expect(rest.at(-1)).toEqual({ id: interrupted, msg: { type: "turn_aborted", reason: "interrupted" } });
    expect([...started, ...rest].filter((event) => event.msg.type === "task_complete")).toEqual([]);
    expect(rest.filter((event) => event.id !== interrupted)).toEqual([]);

    const next = await runTurn(conversation, "a short one then");
    expect(next.filter((event) => event.id !== "2")).toEqual([]);
    expect(next.at(-1)).toEqual({
      id: "2",
      msg: { type: "task_complete", last_agent_message: offlineReply(2, "a short one then") },
    });
  });

  it("an interrupt while idle emits nothing", async () => {
    const { conversation } = await startSession();

    await conversation.submit({ type: "interrupt" });
    const events = await runTurn(conversation, "hello");

    expect(events[0]).toEqual({ id: "1", msg: { type: "task_started", model_context_window: OFFLINE_CONTEXT_WINDOW } });
    expect(events.filter((event) => event.id !== "1")).toEqual([]);
  });

  it("user input sent while a turn runs is injected into that turn instead of starting another", async () => {
    const model = firstResponseCallsATool();
    const { conversation, rolloutPath, home } = await startSession({ model: model.client });

    const turn = await conversation.submit(textInput("first"));
    const opening = await readUntil(conversation, (event) => event.msg.type === "user_message");
    const injected = await conversation.submit(textInput("and also this"));
    // Submissions are handled in order: once a query sent after it is answered, the session holds the input.
    const probe = await conversation.submit({ type: "list_custom_prompts" });
    const middle = await readUntil(conversation, (event) => event.id === probe);
    model.finishFirstResponse();
    const rest = await readTurn(conversation, turn);
    await conversation.shutdown();

    const events = [...opening, ...middle, ...rest];
    expect(events.filter((event) => event.id === injected)).toEqual([]);
    expect(events.filter((event) => event.msg.type === "task_started")).toHaveLength(1);
    expect(rest.at(-1)).toEqual({
      id: turn,
      msg: { type: "task_complete", last_agent_message: offlineReply(2, "and also this") },
    });
    const { items } = await readRolloutHistory(rolloutPath);
    expect(responseItems(items).slice(1)).toEqual([
      userText("first"),
      TOOL_CALL,
      { type: "function_call_output", call_id: "call_1", output: "unsupported call: lookup" },
      userText("and also this"),
      assistantText(offlineReply(2, "and also this")),
    ]);
    expect(responseItems(items)[0]).toMatchObject({ role: "user", content: [{ text: expect.stringContaining(home) }] });
  });

  it("override_turn_context records the environment change before the next turn, and its turn_context has the new settings", async () => {
    const { conversation, rolloutPath, home } = await startSession();
    const elsewhere = path.join(home, "elsewhere");

    await conversation.submit({ type: "override_turn_context", cwd: elsewhere, approval_policy: "never" });
    await runTurn(conversation, "hi");
    await conversation.shutdown();

    const { items } = await readRolloutHistory(rolloutPath);
    expect(items.slice(2, 6)).toEqual([
      responseItem(userText(environmentContext(`<cwd>${elsewhere}</cwd>`, "<approval_policy>never</approval_policy>"))),
      responseItem(userText("hi")),
      eventItem({ type: "user_message", message: "hi", images: [] }),
      {
        type: "turn_context",
        payload: {
          cwd: elsewhere,
          approval_policy: "never",
          sandbox_policy: { mode: "read-only" },
          model: OFFLINE_MODEL,
          summary: "auto",
        },
      },
    ]);
  });

  it("an op the session does not support is answered with an error under its id, and the session keeps working", async () => {
    const { conversation } = await startSession();

    const undo = await conversation.submit({ type: "undo" });
    expect(await conversation.nextEvent()).toEqual({
      id: undo,
      msg: { type: "error", message: 'op "undo" is not supported by llmx yet', code: "unsupported_op" },
    });

    const events = await runTurn(conversation, "still there?");
    expect(events.at(-1)).toEqual({
      id: "1",
      msg: { type: "task_complete", last_agent_message: offlineReply(1, "still there?") },
    });
  });

  it("an exec approval that answers no request is refused with UnknownApprovalError and the session goes on", async () => {
    const { conversation } = await startSession();

    await expect(
      conversation.submit({ type: "exec_approval", id: "call-1", decision: "approved" }),
    ).rejects.toBeInstanceOf(UnknownApprovalError);

    const events = await runTurn(conversation, "still there?");
    expect(events.at(-1)?.msg.type).toBe("task_complete");
  });

  it("shutdown while idle emits shutdown_complete, ends the stream and resolves the task", async () => {
    const { conversation, task } = await startSession();

    const shutdown = await conversation.submit({ type: "shutdown" });

    expect(await collect(conversation.events())).toEqual([{ id: shutdown, msg: { type: "shutdown_complete" } }]);
    await expect(task).resolves.toEqual({ conversationId: CONVERSATION_ID, ended: "shutdown" });
    expect(await conversation.ended).toEqual({ ok: true });
    await expect(conversation.nextEvent()).rejects.toBeInstanceOf(InternalAgentDiedError);
  });

  it("shutdown during a turn aborts the turn, then emits shutdown_complete, and the task resolves", async () => {
    const { conversation, task } = await startSession({ model: slowFirstReply() });

    const turn = await conversation.submit(textInput("tell me a long story"));
    await readUntil(conversation, isDelta);
    const shutdown = await conversation.submit({ type: "shutdown" });
    const rest = await collect(conversation.events());

    expect(rest.slice(-2)).toEqual([
      { id: turn, msg: { type: "turn_aborted", reason: "interrupted" } },
      { id: shutdown, msg: { type: "shutdown_complete" } },
    ]);
    expect(rest.slice(0, -2).filter((event) => event.id !== turn || !event.msg.type.endsWith("_delta"))).toEqual([]);
    await expect(task).resolves.toEqual({ conversationId: CONVERSATION_ID, ended: "shutdown" });
  });

  it("the rollout holds the session meta, the initial context and the turn's persisted items, without deltas", async () => {
    const { conversation, rolloutPath, home } = await startSession();
    const reply = offlineReply(1, "hello");

    await runTurn(conversation, "hello");
    await conversation.shutdown();

    const { items } = await readRolloutHistory(rolloutPath);
    expect(items).toEqual([
      {
        type: "session_meta",
        payload: {
          id: CONVERSATION_ID,
          timestamp: NOW.toISOString(),
          cwd: home,
          originator: DEFAULT_ORIGINATOR,
          cli_version: CLI_VERSION,
          instructions: null,
          source: "exec",
          model_provider: "offline",
        },
      },
      responseItem(
        userText(
          environmentContext(
            `<cwd>${home}</cwd>`,
            "<approval_policy>on-request</approval_policy>",
            "<sandbox_mode>read-only</sandbox_mode>",
            "<network_access>restricted</network_access>",
            "<shell>zsh</shell>",
          ),
        ),
      ),
      responseItem(userText("hello")),
      eventItem({ type: "user_message", message: "hello", images: [] }),
      {
        type: "turn_context",
        payload: {
          cwd: home,
          approval_policy: "on-request",
          sandbox_policy: { mode: "read-only" },
          model: OFFLINE_MODEL,
          summary: "auto",
        },
      },
      eventItem({ type: "agent_message", message: reply }),
      responseItem(assistantText(reply)),
      eventItem({ type: "token_count", info: expect.objectContaining({ last_token_usage: expect.any(Object) }), rate_limits: null }),
    ]);
  });
});

describe("a rollout write that fails (disk full)", () => {
  /** A disk that takes `room` more bytes, then writes part of a buffer and fails with ENOSPC. */
  function fillingDisk(room: number): RolloutFileIo {
    let left = room;
    return {
      ...nodeRolloutFileIo,
      async write(handle, data, offset, length) {
        if (left >= length) {
          left -= length;
          return nodeRolloutFileIo.write(handle, data, offset, length);
        }
        if (left > 0) {
          const written = await nodeRolloutFileIo.write(handle, data, offset, left);
          left = 0;
          return written;
        }
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      },
    };
  }

  it("stops the session with RolloutWriteError naming ENOSPC; nothing unrecorded is delivered; the file stays whole", async () => {
    const { conversation, task, rolloutPath } = await startSession({ rolloutIo: fillingDisk(6_000) });
    const delivered: Event[] = [];
    const turn = conversation.submit(textInput("a turn long enough to fill the disk ".repeat(40)));
    await turn;
    for await (const event of conversation.events()) delivered.push(event);

    await expect(task).rejects.toMatchObject({ name: "RolloutWriteError", errnoCode: "ENOSPC" });
    const end = await conversation.ended;
    expect(end.ok).toBe(false);
    // Every delivered event the policy persists is in the file: nothing reached the client as if recorded.
    const { items } = await readRolloutHistory(rolloutPath);
    const persisted = items.flatMap((item) => (item.type === "event_msg" ? [item.payload.type] : []));
    for (const event of delivered) {
      if (event.msg.type === "user_message" || event.msg.type === "agent_message") expect(persisted).toContain(event.msg.type);
    }
    // No torn line glued to another: every line of the file parses.
    const lines = (await readFile(rolloutPath, "utf8")).split("\n").filter((line) => line.trim() !== "");
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });
});

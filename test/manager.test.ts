// The manager's API, end to end: real worker threads, real rollout files.
import { execFileSync } from "node:child_process";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  CapacityError,
  ConversationInUseError,
  ConversationNotFoundError,
  EmptyRolloutError,
  InternalAgentDiedError,
  InvalidConfigError,
  InvalidOpError,
  MissingSessionMetaError,
  RolloutNotFoundError,
  RolloutUnsafePathError,
  SessionConfiguredNotFirstEventError,
  readRolloutHistory,
  type StateChange,
} from "../src/index.js";
import { FIXTURES, runTurn, testConfig, types, useRuntime } from "./helpers.js";

const runtime = useRuntime();

describe("newConversation", () => {
  it("starts a conversation whose first event is session_configured and whose rollout begins with session_meta", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const { conversationId, conversation, sessionConfigured } = await manager.newConversation(testConfig(home));

    expect(sessionConfigured).toMatchObject({ type: "session_configured", session_id: conversationId, model: "llmx-offline" });
    expect(sessionConfigured.initial_messages).toBeUndefined();
    expect(conversation.rolloutPath).toBe(sessionConfigured.rollout_path);
    expect(path.relative(home, conversation.rolloutPath)).toMatch(
      new RegExp(`^sessions/\\d{4}/\\d{2}/\\d{2}/rollout-\\d{4}-\\d{2}-\\d{2}T\\d{2}-\\d{2}-\\d{2}-${conversationId}\\.jsonl$`),
    );
    expect(conversationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const firstLine = JSON.parse((await readFile(conversation.rolloutPath, "utf8")).split("\n")[0] ?? "") as unknown;
    expect(firstLine).toMatchObject({ type: "session_meta", payload: { id: conversationId, cwd: home, source: "cli" } });
  });

  it("runs a turn and reports the reply in task_complete", async () => {
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(testConfig(await runtime.home()));
    const events = await runTurn(conversation, "hello");
    expect(types(events)).toEqual(expect.arrayContaining(["task_started", "user_message", "agent_message", "token_count"]));
    expect(events.at(-1)?.msg).toEqual({ type: "task_complete", last_agent_message: 'Offline reply #1: you said "hello".' });
  });

  it("refuses a cwd that is not an existing directory with InvalidConfigError naming the field, and keeps working", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ maxConversations: 1 });
    const file = path.join(home, "a-file");
    await writeFile(file, "not a directory");
    for (const cwd of [path.join(home, "missing"), file]) {
      const failure = manager.newConversation(testConfig(home, { cwd }));
      await expect(failure).rejects.toBeInstanceOf(InvalidConfigError);
      await expect(failure).rejects.toMatchObject({ field: "cwd", message: expect.stringContaining(cwd) });
    }
    expect(manager.list()).toEqual([]);
    // The failed starts hold no slot: the one allowed conversation still starts.
    await expect(manager.newConversation(testConfig(home))).resolves.toMatchObject({ conversationId: expect.any(String) });
  });

  it("starts when AGENTS.md in the cwd is a FIFO or a directory, reading neither", async () => {
    const home = await runtime.home();
    const fifo = path.join(home, "fifo-project");
    const dir = path.join(home, "dir-project");
    await mkdir(fifo);
    await mkdir(path.join(dir, "AGENTS.md"), { recursive: true });
    execFileSync("mkfifo", [path.join(fifo, "AGENTS.md")]);
    const manager = runtime.manager();
    for (const cwd of [fifo, dir]) {
      const { conversation } = await manager.newConversation(testConfig(home, { cwd }));
      const events = await runTurn(conversation, "hello");
      expect(events.at(-1)?.msg.type).toBe("task_complete");
    }
  });

  it("fails fast with CapacityError once the live-conversation cap is reached", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ maxConversations: 2 });
    await manager.newConversation(testConfig(home));
    const second = await manager.newConversation(testConfig(home));
    await expect(manager.newConversation(testConfig(home))).rejects.toBeInstanceOf(CapacityError);

    await second.conversation.shutdown();
    await expect(manager.newConversation(testConfig(home))).resolves.toMatchObject({ conversationId: expect.any(String) });
  });

  it("counts a removed conversation whose worker still runs against the cap, and ended ones not at all", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ maxConversations: 2 });
    for (let i = 0; i < 3; i++) await (await manager.newConversation(testConfig(home))).conversation.shutdown();
    expect(manager.liveConversations).toBe(0);
    const first = await manager.newConversation(testConfig(home));
    await manager.newConversation(testConfig(home));
    manager.removeConversation(first.conversationId);
    // Removed, but its worker runs on (as in Codex): it still holds its slot.
    expect(manager.liveConversations).toBe(2);
    await expect(manager.newConversation(testConfig(home))).rejects.toBeInstanceOf(CapacityError);
    await first.conversation.shutdown();
    expect(manager.liveConversations).toBe(1);
    await expect(manager.newConversation(testConfig(home))).resolves.toMatchObject({ conversationId: expect.any(String) });
  });

  it("rejects a worker whose first event is not session_configured, does not register it and frees its thread", async () => {
    const manager = runtime.manager({ workerFilename: path.join(FIXTURES, "workers/bad-first-event.worker.mjs") });
    const changes: StateChange[] = [];
    manager.onStateChange((change) => changes.push(change));

    const error = await manager.newConversation(testConfig(await runtime.home())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionConfiguredNotFirstEventError);
    expect((error as SessionConfiguredNotFirstEventError).firstEvent).toMatchObject({ id: "0", msg: { type: "task_started" } });
    expect(manager.list()).toEqual([]);
    expect(changes.map((change) => change.state)).toEqual(["spawning", "awaitingSessionConfigured", "failed"]);
    const id = changes[0]?.conversationId ?? "";
    expect(() => manager.getConversation(id)).toThrow(ConversationNotFoundError);
    await expect.poll(() => manager.liveConversations).toBe(0);
  });
});

describe("getConversation and removeConversation", () => {
  it("getConversation of an unknown id throws ConversationNotFoundError naming the id", async () => {
    const manager = runtime.manager();
    expect(() => manager.getConversation("01a20000-0000-7000-8000-000000000000")).toThrow(
      new ConversationNotFoundError("01a20000-0000-7000-8000-000000000000"),
    );
  });

  it("removeConversation returns the conversation once, drops it from the manager and leaves it running", async () => {
    const manager = runtime.manager();
    const { conversationId, conversation } = await manager.newConversation(testConfig(await runtime.home()));
    expect(manager.getConversation(conversationId)).toBe(conversation);

    expect(manager.removeConversation(conversationId)).toBe(conversation);
    expect(manager.removeConversation(conversationId)).toBeUndefined();
    expect(() => manager.getConversation(conversationId)).toThrow(ConversationNotFoundError);
    expect(manager.list()).toEqual([]);

    const events = await runTurn(conversation, "still here?");
    expect(events.at(-1)?.msg.type).toBe("task_complete");
  });
});

describe("supervision", () => {
  it("list() shows each conversation's state, parent and rollout path, and state changes are observable", async () => {
    const manager = runtime.manager();
    const changes: StateChange[] = [];
    manager.onStateChange((change) => changes.push(change));
    const { conversationId, conversation } = await manager.newConversation(testConfig(await runtime.home()));

    expect(manager.list()).toEqual([
      {
        conversationId,
        state: "active",
        parentId: undefined,
        depth: 0,
        rolloutPath: conversation.rolloutPath,
        cause: undefined,
        restarts: 0,
        lastExit: undefined,
        threadId: expect.any(Number),
      },
    ]);
    await conversation.shutdown();
    expect(changes.map(({ previous, state }) => [previous, state])).toEqual([
      [undefined, "spawning"],
      ["spawning", "awaitingSessionConfigured"],
      ["awaitingSessionConfigured", "active"],
      ["active", "stopping"],
      ["stopping", "removed"],
    ]);
  });
});

describe("conversation handle", () => {
  it("shutdown() asks the session to shut down without taking a queue slot, delivers shutdown_complete, and later submits fail with InternalAgentDiedError", async () => {
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(testConfig(await runtime.home()));
    await expect(conversation.shutdown()).resolves.toEqual({ ok: true });

    const remaining = [];
    for await (const event of conversation.events()) remaining.push(event);
    expect(remaining).toEqual([{ id: "shutdown", msg: { type: "shutdown_complete" } }]);
    await expect(conversation.submit({ type: "interrupt" })).rejects.toBeInstanceOf(InternalAgentDiedError);
    await expect(conversation.nextEvent()).rejects.toBeInstanceOf(InternalAgentDiedError);
  });

  it("numbers submissions from 0 and passes caller ids through submitWithId", async () => {
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(testConfig(await runtime.home()));
    await expect(conversation.submit({ type: "override_turn_context", model: "llmx-offline" })).resolves.toBe("0");
    await conversation.submitWithId({ id: "mine", op: { type: "user_input", items: [{ type: "text", text: "x" }] } });
    const events = [];
    for (;;) {
      const event = await conversation.nextEvent();
      events.push(event);
      if (event.msg.type === "task_complete") break;
    }
    expect(new Set(events.map((event) => event.id))).toEqual(new Set(["mine"]));
    await expect(conversation.submit({ type: "interrupt" })).resolves.toBe("1");
  });

  it("rejects an unknown op with InvalidOpError before it reaches the worker", async () => {
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(testConfig(await runtime.home()));
    // @ts-expect-error: not an op
    await expect(conversation.submit({ type: "make_coffee" })).rejects.toBeInstanceOf(InvalidOpError);
    const events = await runTurn(conversation, "after the bad op");
    expect(events[0]?.msg.type).toBe("task_started");
  });
});

describe("resume", () => {
  it("keeps the conversation id, appends to the same file and replays recorded events as initial_messages", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const first = await manager.newConversation(testConfig(home));
    await runTurn(first.conversation, "remember the word teapot");
    await first.conversation.shutdown();
    const linesBefore = (await readFile(first.conversation.rolloutPath, "utf8")).trim().split("\n").length;

    const resumed = await manager.resumeConversationFromRollout(testConfig(home), first.conversation.rolloutPath);
    expect(resumed.conversationId).toBe(first.conversationId);
    expect(resumed.conversation.rolloutPath).toBe(first.conversation.rolloutPath);
    expect(resumed.sessionConfigured.initial_messages?.map((msg) => msg.type)).toEqual([
      "user_message",
      "agent_message",
      "token_count",
    ]);

    const events = await runTurn(resumed.conversation, "what was the word?");
    expect(events.at(-1)?.msg).toMatchObject({ last_agent_message: 'Offline reply #2: you said "what was the word?".' });
    await resumed.conversation.shutdown();
    const lines = (await readFile(first.conversation.rolloutPath, "utf8")).trim().split("\n");
    expect(lines.length).toBeGreaterThan(linesBefore);
    expect(lines.filter((line) => line.includes('"type":"session_meta"'))).toHaveLength(1);
  });

  it("refuses to resume a conversation that is still running (its file would get two writers)", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(testConfig(home));
    await expect(manager.resumeConversationFromRollout(testConfig(home), conversation.rolloutPath)).rejects.toBeInstanceOf(
      ConversationInUseError,
    );
  });

  it.each([
    ["a missing file", null, RolloutNotFoundError],
    ["an empty file", "  \n\n", EmptyRolloutError],
    ["a file of junk lines", "not json\n{\"also\": \"not a rollout line\"}\n", MissingSessionMetaError],
    [
      "a file without session_meta",
      `${JSON.stringify({ timestamp: "2025-01-01T00:00:00.000Z", type: "response_item", payload: { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] } })}\n`,
      MissingSessionMetaError,
    ],
  ])("rejects %s with a typed error and starts nothing", async (_name, content, errorClass) => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const file = path.join(home, "sessions", "broken.jsonl");
    if (content !== null) {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, content);
    }
    await expect(manager.resumeConversationFromRollout(testConfig(home), file)).rejects.toBeInstanceOf(errorClass);
    expect(manager.list()).toEqual([]);
    expect(manager.liveConversations).toBe(0);
  });

  it("refuses to resume or fork from a FIFO, a device or a directory (a read that would never end) and starts nothing", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const fifo = path.join(home, "fifo.jsonl");
    execFileSync("mkfifo", [fifo]);
    for (const file of [fifo, "/dev/zero", home]) {
      await expect(manager.resumeConversationFromRollout(testConfig(home), file)).rejects.toBeInstanceOf(RolloutUnsafePathError);
      await expect(manager.forkConversation(0, testConfig(home), file)).rejects.toBeInstanceOf(RolloutUnsafePathError);
    }
    expect(manager.list()).toEqual([]);
  });

  it("resumeConversationWithHistory starts from a given history", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const source = await manager.newConversation(testConfig(home));
    await runTurn(source.conversation, "one");
    await runTurn(source.conversation, "two");
    await source.conversation.shutdown();
    const { items } = await readRolloutHistory(source.conversation.rolloutPath);

    const forked = await manager.resumeConversationWithHistory(testConfig(home), { type: "forked", items });
    expect(forked.conversationId).not.toBe(source.conversationId);
    const events = await runTurn(forked.conversation, "three");
    expect(events.at(-1)?.msg).toMatchObject({ last_agent_message: 'Offline reply #3: you said "three".' });

    const fresh = await manager.resumeConversationWithHistory(testConfig(home), { type: "new" });
    expect(fresh.sessionConfigured.initial_messages).toBeUndefined();
  });
});

describe("fork", () => {
  async function recordedConversation(home: string, prompts: string[]) {
    const manager = runtime.manager();
    const { conversation, conversationId } = await manager.newConversation(testConfig(home));
    for (const prompt of prompts) await runTurn(conversation, prompt);
    await conversation.shutdown();
    return { manager, path: conversation.rolloutPath, conversationId };
  }

  it("gets a new id and its own file holding the history before the nth user message", async () => {
    const home = await runtime.home();
    const { manager, path: source, conversationId } = await recordedConversation(home, ["first", "second", "third"]);

    const fork = await manager.forkConversation(1, testConfig(home), source);
    expect(fork.conversationId).not.toBe(conversationId);
    expect(fork.conversation.rolloutPath).not.toBe(source);
    expect(fork.sessionConfigured.initial_messages?.filter((msg) => msg.type === "user_message")).toEqual([
      { type: "user_message", message: "first", images: [] },
    ]);
    const events = await runTurn(fork.conversation, "instead of second");
    expect(events.at(-1)?.msg).toMatchObject({ last_agent_message: 'Offline reply #2: you said "instead of second".' });
    await fork.conversation.shutdown();

    const forkHistory = await readRolloutHistory(fork.conversation.rolloutPath);
    expect(forkHistory.conversationId).toBe(fork.conversationId);
    const metas = forkHistory.items.filter((item) => item.type === "session_meta");
    expect(metas.map((item) => item.payload.id)).toEqual([fork.conversationId, conversationId]);
  });

  it("at n = 0 keeps only what came before the first user message", async () => {
    const home = await runtime.home();
    const { manager, path: source } = await recordedConversation(home, ["first", "second"]);
    const fork = await manager.forkConversation(0, testConfig(home), source);
    expect(fork.sessionConfigured.initial_messages).toEqual([]);
    const events = await runTurn(fork.conversation, "fresh start");
    expect(events.at(-1)?.msg).toMatchObject({ last_agent_message: 'Offline reply #1: you said "fresh start".' });
  });

  it("out of range starts a brand-new conversation", async () => {
    const home = await runtime.home();
    const { manager, path: source } = await recordedConversation(home, ["only one"]);
    const fork = await manager.forkConversation(5, testConfig(home), source);
    expect(fork.sessionConfigured.initial_messages).toBeUndefined();
    await fork.conversation.shutdown();
    const history = await readRolloutHistory(fork.conversation.rolloutPath);
    expect(history.items.filter((item) => item.type === "session_meta")).toHaveLength(1);
  });
});

describe("manager.shutdown", () => {
  it("stops every conversation, including ones removed from the map", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const a = await manager.newConversation(testConfig(home));
    const b = await manager.newConversation(testConfig(home));
    manager.removeConversation(b.conversationId);
    await manager.shutdown();
    expect(a.conversation.isEnded).toBe(true);
    expect(b.conversation.isEnded).toBe(true);
    expect(manager.liveConversations).toBe(0);
  });
});

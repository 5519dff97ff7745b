// Events under flow control, with any number of readers: every reader sees the stream from where it subscribed,
// the slowest reader paces the conversation, and a client that does not read holds a bounded number of events
// in the supervisor while the worker coalesces output. Real worker threads, real commands, the mock model.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConversationManager, InvalidConfigError, type Conversation, type Event } from "../src/index.js";
import { EventOutbox, droppedOutputMarker } from "../src/session/event-outbox.js";
import { Conversation as ConversationHandle } from "../src/manager/conversation.js";
import { WorkerCrashedError } from "../src/errors.js";
import type { FromWorker } from "../src/channel/index.js";
import { FIXTURES, readTurn, runTurn, testConfig, textInput, types, useMockModel, useRuntime } from "./helpers.js";

const runtime = useRuntime();
const mock = useMockModel();
const FAULTY_MODEL = path.join(FIXTURES, "models/faulty-model.mjs");
const OUTPUT_BYTES = 900_000;
const BIG_OUTPUT = `RUNSHELL: head -c ${OUTPUT_BYTES} /dev/zero | tr '\\0' a`;

/** Reads `reader` until the turn `turnId` completes or aborts. */
async function readerTurn(reader: AsyncIterator<Event>, turnId: string): Promise<Event[]> {
  const events: Event[] = [];
  for (;;) {
    const next = await reader.next();
    if (next.done) throw new Error("the stream ended before the turn did");
    events.push(next.value);
    if (next.value.id === turnId && (next.value.msg.type === "task_complete" || next.value.msg.type === "turn_aborted")) return events;
  }
}

async function fullAccess(eventWindow: number, extra: { conversationsPerThread?: number; maxConversations?: number } = {}) {
  const home = await runtime.home();
  const manager = runtime.manager({ eventWindow, ...extra });
  const config = mock.config(home, { approvalPolicy: "never", sandboxPolicy: { mode: "danger-full-access" } });
  return { home, manager, config };
}

/** Waits (bounded) until the rollout holds `text`: the worker got that far whether or not anybody read. */
async function untilRecorded(conversation: Conversation, text: string): Promise<void> {
  await expect.poll(async () => (await readFile(conversation.rolloutPath, "utf8")).includes(text), { timeout: 30_000, interval: 50 }).toBe(true);
}

function outputOf(events: readonly Event[]): string {
  return events
    .flatMap((event) => (event.msg.type === "exec_command_output_delta" ? [Buffer.from(event.msg.chunk, "base64").toString()] : []))
    .join("");
}

describe("readers", () => {
  it("two readers see the same events, and the first one also gets what came before it subscribed", async () => {
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(testConfig(await runtime.home()));
    const turnId = await conversation.submit(textInput("hello both"));
    const first = conversation.events();
    const second = conversation.events();

    const [a, b] = await Promise.all([readerTurn(first, turnId), readerTurn(second, turnId)]);

    expect(types(a)[0]).toBe("task_started");
    expect(a).toEqual(b);
    expect(a.at(-1)?.msg).toEqual({ type: "task_complete", last_agent_message: 'Offline reply #1: you said "hello both".' });
  });

  it("a reader that subscribes late sees the events from then on", async () => {
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(testConfig(await runtime.home()));
    await runTurn(conversation, "one");
    const late = conversation.events();

    const turnId = await conversation.submit(textInput("two"));
    const seenByDefault = await readTurn(conversation, turnId);
    const seenLate = await readerTurn(late, turnId);

    expect(seenLate).toEqual(seenByDefault);
    expect(seenLate[0]).toEqual({ id: turnId, msg: { type: "task_started", model_context_window: expect.anything() } });
  });

  it("a reader that breaks unsubscribes and does not hold the others back", async () => {
    const manager = runtime.manager({ eventWindow: 4 });
    const { conversation } = await manager.newConversation(testConfig(await runtime.home(), { modelOptions: { repeat: 20 } }));
    const quitter = conversation.events();
    const stayer = conversation.events();
    const turnId = await conversation.submit(textInput("a long answer please"));

    for await (const event of quitter) {
      expect(event.msg.type).toBe("task_started");
      break;
    }
    const events = await readerTurn(stayer, turnId);

    expect(events.length).toBeGreaterThan(4 * 10);
    expect(events.at(-1)?.msg.type).toBe("task_complete");
    expect(conversation.bufferedEvents).toBe(0);
    expect(await quitter.next()).toEqual({ value: undefined, done: true });
  });

  it("nextEvent() after the first events() reader went away reads what came after it", async () => {
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(testConfig(await runtime.home()));
    const first = await conversation.submit(textInput("one"));
    const reader = conversation.events();
    await readerTurn(reader, first);
    await reader.return?.();

    const second = await conversation.submit(textInput("two"));
    const events = await readTurn(conversation, second);
    expect(events[0]).toMatchObject({ id: second, msg: { type: "task_started" } });
  });
});

describe("flow control", () => {
  it("a client that does not read holds a bounded number of events; once it reads, the turn ends with the full output", async () => {
    const { manager, config } = await fullAccess(8);
    const { conversation } = await manager.newConversation(config);
    const turnId = await conversation.submit(textInput(BIG_OUTPUT));

    // The turn runs to its end in the worker (the command's output and the model's answer are recorded) while
    // the supervisor holds no more than the window.
    await untilRecorded(conversation, "Tool said: ");
    expect(conversation.bufferedEvents).toBeLessThanOrEqual(8);

    const events = await readTurn(conversation, turnId);
    const end = events.find((event) => event.msg.type === "exec_command_end")?.msg;
    expect(end).toMatchObject({ exit_code: 0, aggregated_output: "a".repeat(OUTPUT_BYTES) });
    // The deltas that waited were coalesced, their middle left out with a marker.
    const streamed = outputOf(events);
    expect(streamed.length).toBeLessThan(OUTPUT_BYTES);
    expect(streamed).toMatch(/\[\.\.\. \d+ bytes of output not delivered: the client was not reading \.\.\.\]/);
    expect(events.at(-1)?.msg).toMatchObject({ type: "task_complete", last_agent_message: expect.stringMatching(/^Tool said: /) });
    expect(conversation.bufferedEvents).toBe(0);
  });

  it("within the window, every byte of a command's output is streamed as it was printed", async () => {
    const { manager, config } = await fullAccess(256);
    const { conversation } = await manager.newConversation(config);
    const events = await runTurn(conversation, "RUNSHELL: seq 1 20000");
    const expected = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join("");
    const end = events.find((event) => event.msg.type === "exec_command_end")?.msg;
    expect(end).toMatchObject({ aggregated_output: expected });
    expect(outputOf(events)).toBe(expected);
  });

  it("dense mode: a conversation nobody reads does not stall its thread-mate", async () => {
    const { manager, config } = await fullAccess(4, { conversationsPerThread: 2, maxConversations: 2 });
    const unread = await manager.newConversation(config);
    const mate = await manager.newConversation(config);
    expect(new Set(manager.list().map((info) => info.threadId)).size).toBe(1);

    const unreadTurn = await unread.conversation.submit(textInput(BIG_OUTPUT));
    const events = await runTurn(mate.conversation, "RUNSHELL: seq 1 5000");
    expect(events.at(-1)?.msg).toMatchObject({ type: "task_complete", last_agent_message: "Tool said: 5000" });
    expect(unread.conversation.bufferedEvents).toBeLessThanOrEqual(4);

    const late = await readTurn(unread.conversation, unreadTurn);
    expect(late.at(-1)?.msg.type).toBe("task_complete");
  });

  it("readers keep reading across a restart", async () => {
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(
      testConfig(await runtime.home(), { modelProviderModule: FAULTY_MODEL, modelOptions: { fault: "exit", faultOn: "CRASH" } }),
    );
    const first = conversation.events();
    const second = conversation.events();
    const crashing = await conversation.submit(textInput("CRASH now"));

    for (const reader of [first, second]) {
      const events = await readerTurn(reader, crashing);
      expect(events.at(-2)?.msg).toMatchObject({ type: "error", code: "worker_crashed" });
      const next = await reader.next();
      expect(next.value?.msg).toEqual({ type: "conversation_restarted", reason: "exited", restarts: 1 });
    }

    const after = await conversation.submit(textInput("still there?"));
    const [a, b] = await Promise.all([readerTurn(first, after), readerTurn(second, after)]);
    expect(a).toEqual(b);
    expect(a.at(-1)?.msg).toMatchObject({ type: "task_complete", last_agent_message: expect.stringContaining("seen:") });
  });
});

describe("the handle's credit", () => {
  /** A handle with no worker behind it: the test delivers events and sees the credit it returns. */
  function handle() {
    const conversation = new ConversationHandle({
      conversationId: "c",
      rolloutPath: "/nowhere",
      shutdown: () => Promise.resolve({ ok: true }),
      terminate: () => undefined,
      eventWindow: 8,
    });
    const attach = () => {
      const got: number[] = [];
      conversation.attach({ submit: () => undefined, stop: () => undefined, credit: (count) => got.push(count) });
      return got;
    };
    return { conversation, attach };
  }
  const message = (n: number): Event => ({ id: "0", msg: { type: "agent_message", message: `m${n}` } });
  const settled = () => new Promise((resolve) => setImmediate(resolve));
  const total = (counts: readonly number[]) => counts.reduce((sum, count) => sum + count, 0);

  it("comes back only for events every reader has read", async () => {
    const { conversation, attach } = handle();
    const credit = attach();
    const fast = conversation.events();
    const slow = conversation.events();
    for (let i = 0; i < 5; i++) conversation.deliver(message(i));

    for (let i = 0; i < 5; i++) expect((await fast.next()).value).toEqual(message(i));
    await settled();
    expect(total(credit)).toBe(0);
    expect(conversation.bufferedEvents).toBe(5);

    await slow.next();
    await slow.next();
    await settled();
    expect(total(credit)).toBe(2);
    await slow.return?.();
    await settled();
    expect(total(credit)).toBe(5);
    expect(conversation.bufferedEvents).toBe(0);
  });

  it("nobody reading: the default reader holds everything; the first events() reader takes it over", async () => {
    const { conversation, attach } = handle();
    const credit = attach();
    for (let i = 0; i < 3; i++) conversation.deliver(message(i));
    await settled();
    expect(total(credit)).toBe(0);

    const reader = conversation.events();
    const second = conversation.events();
    conversation.deliver(message(3));
    expect((await reader.next()).value).toEqual(message(0));
    expect((await second.next()).value).toEqual(message(3));
  });

  it("once nextEvent() has been used, a new events() reader starts from the point it subscribed", async () => {
    const { conversation, attach } = handle();
    attach();
    for (let i = 0; i < 3; i++) conversation.deliver(message(i));
    expect(await conversation.nextEvent()).toEqual(message(0));
    const reader = conversation.events();
    conversation.deliver(message(3));
    expect((await reader.next()).value).toEqual(message(3));
    expect(await conversation.nextEvent()).toEqual(message(1));
  });

  it("after a restart, the new worker gets no credit for what the old one sent or the handle added", async () => {
    const { conversation, attach } = handle();
    const old = attach();
    const reader = conversation.events();
    await conversation.submit(textInput("hi"));
    conversation.deliver({ id: "0", msg: { type: "task_started", model_context_window: null } });
    conversation.deliver(message(1));
    conversation.restarting(new WorkerCrashedError("c", "exited", "gone"), "exited", 1);
    const fresh = attach();
    conversation.deliver(message(2));

    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push(((await reader.next()).value as Event).msg.type);
    await settled();
    expect(seen).toEqual(["task_started", "agent_message", "error", "task_complete", "conversation_restarted", "agent_message"]);
    expect(total(old)).toBe(0);
    expect(total(fresh)).toBe(1);
  });
});

describe("the worker's outbox", () => {
  it("a manager refuses an event window that is not a positive integer with InvalidConfigError", () => {
    for (const eventWindow of [0, -1, 1.5, Number.NaN]) {
      expect(() => new ConversationManager({ eventWindow })).toThrow(InvalidConfigError);
    }
  });

  it("coalesces waiting deltas per stream, keeps whole events in order, and sends everything once credit returns", () => {
    const sent: FromWorker[] = [];
    const outbox = new EventOutbox({ send: (message) => sent.push(message), window: 1, maxOutputBytes: 64 });
    const delta = (stream: "stdout" | "stderr", text: string): Event => ({
      id: "1",
      msg: { type: "exec_command_output_delta", call_id: "c", stream, chunk: Buffer.from(text).toString("base64") },
    });
    outbox.deliver({ id: "1", msg: { type: "task_started", model_context_window: null } });
    for (let i = 0; i < 1000; i++) {
      outbox.deliver(delta("stdout", `line ${String(i).padStart(4, "0")}\n`));
      outbox.deliver(delta("stderr", "e"));
    }
    outbox.message({ type: "llmx/credit", count: 1 });
    outbox.deliver({ id: "1", msg: { type: "agent_message_delta", delta: "he" } });
    outbox.deliver({ id: "1", msg: { type: "agent_message_delta", delta: "llo" } });
    outbox.deliver({ id: "1", msg: { type: "task_complete", last_agent_message: "hello" } });

    expect(sent).toHaveLength(1);
    expect(outbox.size).toBe(5);
    outbox.grant(100);

    const events = sent.flatMap((message) => (message.type === "llmx/event" ? [message.event] : []));
    expect(sent.map((message) => (message.type === "llmx/event" ? message.event.msg.type : message.type))).toEqual([
      "task_started",
      "exec_command_output_delta",
      "exec_command_output_delta",
      "llmx/credit",
      "agent_message_delta",
      "task_complete",
    ]);
    const stdout = outputOf(events.filter((event) => event.msg.type === "exec_command_output_delta" && event.msg.stream === "stdout"));
    expect(stdout.startsWith("line 0000\nline 0001\nline 0002\n")).toBe(true);
    expect(stdout.endsWith("line 0998\nline 0999\n")).toBe(true);
    expect(stdout).toContain(droppedOutputMarker(10_000 - 64));
    expect(events[3]?.msg).toEqual({ type: "agent_message_delta", delta: "hello" });
  });
});

// The framed channel over a real in-process MessageChannel, and the supervisor's Conversation handle and worker
// link driven by a fake worker that the tests play by hand (its task promise, its port, its credits).
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import {
  createFramedPort,
  decodeFromWorker,
  decodeToWorker,
  type FramedPort,
  type FromWorker,
  type ToWorker,
} from "../src/channel/index.js";
import {
  BadFrameError,
  InternalAgentDiedError,
  InvalidOpError,
  RolloutError,
  WorkerCrashedError,
  serializeError,
} from "../src/errors.js";
import { SUBMISSION_QUEUE_CAPACITY } from "../src/manager/conversation.js";
import type { ThreadFacts } from "../src/manager/runtime.js";
import type { Event, EventMsg, Op, Submission } from "../src/protocol/index.js";
import { linkConversation } from "./in-process.js";

const openPorts: MessagePort[] = [];
afterEach(() => {
  for (const port of openPorts.splice(0)) port.close();
});

function messageChannel(): { port1: MessagePort; port2: MessagePort } {
  const { port1, port2 } = new MessageChannel();
  openPorts.push(port1, port2);
  return { port1, port2 };
}

/** Resolves waiters whose condition has become true; `check()` runs after every change. */
function conditions(): { until(condition: () => boolean): Promise<void>; check(): void } {
  const waiting: { condition: () => boolean; resolve: () => void }[] = [];
  const check = (): void => {
    for (const waiter of [...waiting]) {
      if (!waiter.condition()) continue;
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  };
  return {
    until: (condition) =>
      condition() ? Promise.resolve() : new Promise((resolve) => waiting.push({ condition, resolve })),
    check,
  };
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe("framed channel", () => {
  type Note = { n: number };
  const note = (n: number): Note => ({ n });
  const notes = (count: number): Note[] => Array.from({ length: count }, (_, i) => note(i));

  function sender(port: MessagePort): FramedPort<Note> {
    return createFramedPort<never, Note>(port, { onMessage: () => undefined }, { decode: () => undefined });
  }

  /** The receiving end: what it delivered, what it reported as bad, how many raw frames reached its port. */
  function receiver(port: MessagePort, decode: (value: unknown) => Note | undefined = (value) => value as Note) {
    const received: Note[] = [];
    const bad: Error[] = [];
    const log: string[] = [];
    let frames = 0;
    const { until, check } = conditions();
    port.on("message", () => (frames += 1));
    createFramedPort<Note, never>(
      port,
      {
        onMessage: (message) => {
          received.push(message);
          log.push(`message ${message.n}`);
          check();
        },
        onBadMessage: (error) => {
          bad.push(error);
          log.push("bad message");
          check();
        },
        onClose: () => {
          log.push("close");
          check();
        },
      },
      { decode },
    );
    return {
      received,
      bad,
      log,
      frames: () => frames,
      receivedCount: (count: number) => until(() => received.length + bad.length >= count),
      closed: () => until(() => log.includes("close")),
    };
  }

  it("delivers many messages sent in one event-loop turn in order, as a few frames of at most 512", async () => {
    const { port1, port2 } = messageChannel();
    const out = sender(port1);
    const inbox = receiver(port2);

    for (const message of notes(1000)) out.send(message);
    await inbox.receivedCount(1000);

    expect(inbox.received).toEqual(notes(1000));
    expect(inbox.frames()).toBeLessThanOrEqual(Math.ceil(1000 / 512));
  });

  it("drain() takes in at once, in order, what has arrived and not been read yet, and nothing twice", async () => {
    const { port1, port2 } = messageChannel();
    const out = sender(port1);
    const received: Note[] = [];
    const { until, check } = conditions();
    const onMessage = (message: Note): void => {
      received.push(message);
      check();
    };
    const inbox = createFramedPort<Note, never>(port2, { onMessage }, { decode: (value) => value as Note });

    out.send(note(0));
    out.send(note(1));
    out.flush();
    out.send(note(2));
    out.flush();
    inbox.drain();
    expect(received).toEqual(notes(3));

    // What comes next arrives the usual way, after what was drained, and the drained ones do not come again.
    out.send(note(3));
    await until(() => received.length >= 4);
    await nextTurn();
    expect(received).toEqual(notes(4));
  });

  it("delivers messages sent in separate turns, one frame per turn", async () => {
    const { port1, port2 } = messageChannel();
    const out = sender(port1);
    const inbox = receiver(port2);

    out.send(note(1));
    await nextTurn();
    out.send(note(2));
    await nextTurn();
    out.send(note(3));
    await inbox.receivedCount(3);

    expect(inbox.received).toEqual([note(1), note(2), note(3)]);
    expect(inbox.frames()).toBe(3);
  });

  it("reports a frame that is not a msgpack list and keeps delivering the frames after it", async () => {
    const { port1, port2 } = messageChannel();
    const out = sender(port1);
    const inbox = receiver(port2);

    port1.postMessage(new Uint8Array([0x92, 0x01])); // a list of two that ends after one
    port1.postMessage("not a byte array");
    out.send(note(1));
    await inbox.receivedCount(3);

    expect(inbox.log).toEqual(["bad message", "bad message", "message 1"]);
    expect(inbox.bad.map((error) => error.message)).toEqual([
      expect.stringMatching(/MessagePack/),
      "frame is not a byte array",
    ]);
  });

  it("reports a message the decoder rejects and still delivers the other messages of its frame", async () => {
    const { port1, port2 } = messageChannel();
    const out = sender(port1);
    const inbox = receiver(port2, (value) => {
      const { n } = value as Note;
      if (n < 0) throw new RangeError(`negative note ${n}`);
      return n === 0 ? undefined : note(n);
    });

    for (const n of [1, -1, 2, 0, 3]) out.send(note(n));
    await inbox.receivedCount(5);

    expect(inbox.frames()).toBe(1);
    expect(inbox.log).toEqual(["message 1", "bad message", "message 2", "bad message", "message 3"]);
    expect(inbox.bad).toEqual([new RangeError("negative note -1"), new TypeError("message rejected by decoder")]);
  });

  it("tells the receiver when the other side closes, after what that side sent before closing", async () => {
    const { port1, port2 } = messageChannel();
    const out = sender(port1);
    const inbox = receiver(port2);

    out.send(note(1));
    out.send(note(2));
    out.close();
    await inbox.closed();

    expect(inbox.log).toEqual(["message 1", "message 2", "close"]);
  });
});

describe("message envelopes (checked by hand, so that a worker loads no schema library to start)", () => {
  const error = serializeError(new RolloutError("/x", "disk full"));

  it("passes every well-formed supervision message in each direction through unchanged", () => {
    const { port1 } = messageChannel();
    const toWorker: ToWorker[] = [
      { type: "llmx/submission", submission: { id: "1", op: { type: "interrupt" } } },
      { type: "llmx/shutdown" },
      { type: "llmx/child-spawned", requestId: 0, conversationId: "c", rolloutPath: "/r", port: port1 },
      { type: "llmx/child-spawn-failed", requestId: 1, error },
      { type: "llmx/child-ended", conversationId: "c" },
      { type: "llmx/child-ended", conversationId: "c", error },
      { type: "llmx/child-restarted", conversationId: "c", port: port1, reason: "hung", restarts: 2 },
      { type: "llmx/ping", seq: 7 },
    ];
    for (const message of toWorker) expect(decodeToWorker(message)).toBe(message);
    const fromWorker: FromWorker[] = [
      { type: "llmx/ready", threadId: 3 },
      { type: "llmx/ready" },
      { type: "llmx/event", event: { id: "", msg: { type: "shutdown_complete" } } },
      { type: "llmx/credit", count: 1 },
      { type: "llmx/fatal", error },
      { type: "llmx/configured" },
      { type: "llmx/spawn-child", requestId: 0, request: { kind: "review" } },
      { type: "llmx/stop-child", conversationId: "c" },
      { type: "llmx/process-group", pid: 42, running: false },
      { type: "llmx/pong", seq: 7 },
    ];
    for (const message of fromWorker) expect(decodeFromWorker(message)).toBe(message);
  });

  it.each([
    ["not an object", 42],
    ["no type", { seq: 1 }],
    ["an unknown type", { type: "llmx/reboot" }],
    ["a type that only the worker sends", { type: "llmx/pong", seq: 1 }],
    ["a submission without an op type", { type: "llmx/submission", submission: { id: "1", op: {} } }],
    ["a ping without its seq", { type: "llmx/ping" }],
    ["a child port that is not a port", { type: "llmx/child-spawned", requestId: 0, conversationId: "c", rolloutPath: "/r", port: {} }],
    ["an unknown restart reason", { type: "llmx/child-restarted", conversationId: "c", port: null, reason: "bored", restarts: 0 }],
    ["a spawn failure whose error is not a serialized error", { type: "llmx/child-spawn-failed", requestId: 0, error: "boom" }],
  ])("rejects a message to a worker that is %s with BadFrameError", (_, message) => {
    expect(() => decodeToWorker(message)).toThrow(BadFrameError);
  });

  it.each([
    ["an event without an id", { type: "llmx/event", event: { msg: { type: "x" } } }],
    ["a credit of zero", { type: "llmx/credit", count: 0 }],
    ["a fractional thread id", { type: "llmx/ready", threadId: 1.5 }],
    ["a sub-agent of an unknown kind", { type: "llmx/spawn-child", requestId: 0, request: { kind: "other" } }],
    ["a process group without its state", { type: "llmx/process-group", pid: 42 }],
    ["a type that only the supervisor sends", { type: "llmx/shutdown" }],
  ])("rejects a message from a worker that is %s with BadFrameError", (_, message) => {
    expect(() => decodeFromWorker(message)).toThrow(BadFrameError);
  });
});

describe("Conversation handle", () => {
  const CONVERSATION_ID = "conversation-under-test";
  const interrupt: Op = { type: "interrupt" };
  const event = (id: string, msg: EventMsg): Event => ({ id, msg });
  const taskStarted = (id: string): Event => event(id, { type: "task_started", model_context_window: null });
  const SESSION_CONFIGURED: EventMsg = {
    type: "session_configured",
    session_id: CONVERSATION_ID,
    model: "m",
    history_log_id: 0,
    history_entry_count: 0,
    rollout_path: "/nowhere/rollout.jsonl",
  };
  const agentMessage = (id: string, message: string): Event => event(id, { type: "agent_message", message });

  /** The worker side, played by the test: it sees submissions and sends what a session would send. */
  function fakeWorker(port: MessagePort) {
    const submissions: Submission[] = [];
    const { until, check } = conditions();
    let autoCredit = false;
    const framed = createFramedPort<ToWorker, FromWorker>(
      port,
      {
        onMessage: (message) => {
          if (message.type !== "llmx/submission") return;
          submissions.push(message.submission);
          if (autoCredit) framed.send({ type: "llmx/credit", count: 1 });
          check();
        },
      },
      { decode: decodeToWorker },
    );
    return {
      submissions,
      received: (count: number) => until(() => submissions.length >= count),
      send: (message: FromWorker) => framed.send(message),
      emit: (...events: Event[]) => {
        for (const item of events) framed.send({ type: "llmx/event", event: item });
      },
      credit: (count = 1) => framed.send({ type: "llmx/credit", count }),
      /** Takes every submission off its queue as it arrives, as the session does. */
      creditEachSubmission: () => {
        autoCredit = true;
      },
      close: () => framed.close(),
    };
  }

  function startConversation() {
    let settle!: { resolve(value: unknown): void; reject(error: Error): void };
    let worker!: ReturnType<typeof fakeWorker>;
    let facts: ThreadFacts = {};
    const { conversation, link } = linkConversation(
      { conversationId: CONVERSATION_ID, rolloutPath: "/nowhere/rollout.jsonl" },
      (task) => {
        openPorts.push(task.port);
        worker = fakeWorker(task.port);
        worker.emit(event("", SESSION_CONFIGURED));
        return new Promise<unknown>((resolve, reject) => (settle = { resolve, reject }));
      },
      () => facts,
    );
    return {
      conversation,
      link,
      worker,
      /** The session returned: the task resolves and the worker closes its port, as worker-task does. */
      endNormally: () => {
        settle.resolve({ conversationId: CONVERSATION_ID, ended: "shutdown" });
        worker.close();
      },
      /** The worker died: its task rejects (piscina's way), its port goes away, and its thread left `threadFacts`. */
      crash: (error: Error, threadFacts: ThreadFacts = {}) => {
        facts = threadFacts;
        settle.reject(error);
        worker.close();
      },
    };
  }

  it("learns the worker's thread when the worker says it has picked up the task", async () => {
    const { link, worker } = startConversation();
    worker.send({ type: "llmx/ready", threadId: 42 });
    await expect.poll(() => link.threadId).toBe(42);
  });

  it("submit assigns the ids 0, 1, 2, ... and the worker receives the submissions in that order", async () => {
    const { conversation, worker } = startConversation();
    const ops: Op[] = [
      { type: "user_input", items: [{ type: "text", text: "hello" }] },
      { type: "interrupt" },
      { type: "shutdown" },
    ];

    const ids: string[] = [];
    for (const op of ops) ids.push(await conversation.submit(op));
    await worker.received(3);

    expect(ids).toEqual(["0", "1", "2"]);
    expect(worker.submissions).toEqual([
      { id: "0", op: ops[0] },
      { id: "1", op: ops[1] },
      { id: "2", op: ops[2] },
    ]);
  });

  it("holds the 65th submit until the worker returns a credit (Codex's submission capacity of 64)", async () => {
    const { conversation, worker } = startConversation();
    expect(SUBMISSION_QUEUE_CAPACITY).toBe(64);
    for (let i = 0; i < 64; i++) await conversation.submit(interrupt);

    const order: string[] = [];
    const sixtyFifth = conversation.submit(interrupt).then((id) => order.push(`submit ${id} resolved`));
    await worker.received(64);
    // A full round trip through the worker: a 65th submission that was not held back would be there by now.
    worker.emit(taskStarted("0"));
    await conversation.nextEvent();
    expect(worker.submissions).toHaveLength(64);

    order.push("credit sent");
    worker.credit(1);
    await sixtyFifth;
    await worker.received(65);

    expect(order).toEqual(["credit sent", "submit 64 resolved"]);
    expect(worker.submissions.at(-1)).toEqual({ id: "64", op: interrupt });
  });

  it("one credit lets the first of two waiting submits through", async () => {
    const { conversation, worker } = startConversation();
    for (let i = 0; i < 64; i++) await conversation.submit(interrupt);
    const resolved: string[] = [];
    void conversation.submit(interrupt).then((id) => resolved.push(id));
    void conversation.submit(interrupt).then((id) => resolved.push(id));
    await worker.received(64);

    worker.credit(1);
    worker.emit(taskStarted("0"));
    await conversation.nextEvent(); // the credit has been handled...
    await nextTurn(); // ...and whatever it woke has run

    expect(resolved).toEqual(["64"]);
  });

  // A credit reserves a slot for the first waiter, however many are waiting, so none can hang.
  it("more submits than the queue holds, made at once, all reach a worker that takes them", { timeout: 10_000 }, async () => {
    const { conversation, worker } = startConversation();
    worker.creditEachSubmission();

    const ids = await Promise.all(Array.from({ length: 64 * 2 + 1 }, () => conversation.submit(interrupt)));
    await worker.received(ids.length);

    expect(worker.submissions.map((submission) => submission.id)).toEqual(ids);
  });

  it("rejects an invalid op with InvalidOpError and sends nothing to the worker", async () => {
    const { conversation, worker } = startConversation();

    await expect(conversation.submit({ type: "nope" } as unknown as Op)).rejects.toBeInstanceOf(InvalidOpError);
    await conversation.submit(interrupt);
    await worker.received(1);

    expect(worker.submissions.map((submission) => submission.op)).toEqual([interrupt]);
  });

  it("after a worker crash, the stream yields the events already sent, then one error event, then ends", async () => {
    const { conversation, worker, crash } = startConversation();
    const sent = [event("", { type: "background_event", message: "starting" }), taskStarted("0"), agentMessage("0", "hi")];

    worker.emit(...sent);
    crash(new Error("worker exited with code: 3"), { exitCode: 3 });

    expect(await collect(conversation.events())).toEqual([
      ...sent,
      event("0", {
        type: "error",
        message: `conversation ${CONVERSATION_ID} worker exited: worker exited with code: 3`,
        code: "worker_crashed",
      }),
    ]);
  });

  it("after a worker crash, nextEvent and submit reject with WorkerCrashedError, an InternalAgentDiedError", async () => {
    const { conversation, crash } = startConversation();
    crash(new Error("worker exited with code: 3"), { exitCode: 3 });
    const end = await conversation.ended;

    expect(end).toEqual({ ok: false, error: expect.any(WorkerCrashedError) });
    expect(await conversation.nextEvent()).toMatchObject({ msg: { type: "error" } });

    const next = conversation.nextEvent();
    await expect(next).rejects.toBeInstanceOf(WorkerCrashedError);
    await expect(next).rejects.toMatchObject({ reason: "exited", conversationId: CONVERSATION_ID });
    const submitted = conversation.submit(interrupt);
    await expect(submitted).rejects.toBeInstanceOf(WorkerCrashedError);
    await expect(submitted).rejects.toBeInstanceOf(InternalAgentDiedError);
    expect(conversation.isEnded).toBe(true);
  });

  it("a crash's cause is the error the worker reported as fatal before its task failed", async () => {
    const { conversation, worker, crash } = startConversation();
    const fatal = new RolloutError("/nowhere/rollout.jsonl", "cannot create rollout file");

    worker.send({ type: "llmx/fatal", error: serializeError(fatal) });
    crash(new Error("task failed"));
    const end = await conversation.ended;

    expect(end.ok).toBe(false);
    const error = !end.ok ? end.error : undefined;
    expect(error).toMatchObject({
      reason: "threw",
      message: `conversation ${CONVERSATION_ID} worker crashed: cannot create rollout file`,
      cause: { name: "RolloutError", code: "rollout_error", message: "cannot create rollout file" },
    });
  });

  it("a submit waiting for room fails when the worker dies instead of waiting forever", async () => {
    const { conversation, worker, crash } = startConversation();
    for (let i = 0; i < 64; i++) await conversation.submit(interrupt);
    const waiting = conversation.submit(interrupt);
    await worker.received(64);

    crash(new Error("worker exited with code: 1"));

    await expect(waiting).rejects.toBeInstanceOf(WorkerCrashedError);
  });

  it("after a normal end, the stream ends without an error event and nextEvent rejects with InternalAgentDiedError", async () => {
    const { conversation, worker, endNormally } = startConversation();
    const sent = [taskStarted("0"), agentMessage("0", "done"), event("1", { type: "shutdown_complete" })];

    worker.emit(...sent);
    endNormally();

    expect(await collect(conversation.events())).toEqual(sent);
    expect(await conversation.ended).toEqual({ ok: true });
    const next = conversation.nextEvent();
    await expect(next).rejects.toBeInstanceOf(InternalAgentDiedError);
    await expect(next).rejects.not.toBeInstanceOf(WorkerCrashedError);
    await expect(conversation.submit(interrupt)).rejects.toBeInstanceOf(InternalAgentDiedError);
  });
});

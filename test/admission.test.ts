// Admission control for worker starts: the gate itself, and a manager that starts many conversations at once
// on real threads with only a few starts running at a time, none of them timed out for having waited.
import { describe, expect, it } from "vitest";
import { CapacityError, InternalAgentDiedError, type ConversationState } from "../src/index.js";
import { StartGate } from "../src/manager/admission.js";
import { ManualClock } from "../src/util/clock.js";
import { answeredTurn, lastReply, testConfig, useMockModel, useRuntime } from "./helpers.js";

const runtime = useRuntime();
const mock = useMockModel();

describe("StartGate", () => {
  it("admits up to its limit, then queues in order; a release admits the next; releasing twice releases once", async () => {
    const gate = new StartGate(2);
    const order: number[] = [];
    const releases = await Promise.all([gate.acquire(), gate.acquire()]);
    const waiting = [3, 4, 5].map((n) => gate.acquire().then((release) => (order.push(n), release)));
    expect([gate.active, gate.queued]).toEqual([2, 3]);
    releases[0]?.();
    releases[0]?.();
    const third = await waiting[0];
    expect([gate.active, gate.queued]).toEqual([2, 2]);
    releases[1]?.();
    third?.();
    (await waiting[1])?.();
    (await waiting[2])?.();
    expect(order).toEqual([3, 4, 5]);
    expect([gate.active, gate.queued]).toEqual([0, 0]);
  });

  it("a waiter whose signal aborts leaves the queue and rejects; tryAcquire never jumps the queue", async () => {
    const gate = new StartGate(1);
    const held = await gate.acquire();
    const controller = new AbortController();
    const abandoned = gate.acquire(controller.signal);
    const next = gate.acquire();
    expect(gate.tryAcquire()).toBeUndefined();
    controller.abort();
    await expect(abandoned).rejects.toThrow(/stopped while it waited/);
    expect(gate.queued).toBe(1);
    held();
    (await next)();
    const free = gate.tryAcquire();
    expect(free).toBeTypeOf("function");
    free?.();
    await expect(gate.acquire(AbortSignal.abort())).rejects.toThrow();
    expect(() => new StartGate(0)).toThrow(RangeError);
  });
});

describe("a manager starting many conversations at once", () => {
  it("runs at most maxConcurrentStarts starts at a time, and every conversation starts (queued time is not start time)", async () => {
    const home = await runtime.home();
    // A frozen clock: no start timeout can fire, so only the gate decides what runs when.
    const manager = runtime.manager({ maxConversations: 12, maxConcurrentStarts: 2, clock: new ManualClock(1_000_000) });
    const starting = new Set<string>();
    let most = 0;
    manager.onStateChange(({ conversationId, state }: { conversationId: string; state: ConversationState }) => {
      if (state === "awaitingSessionConfigured") starting.add(conversationId);
      else starting.delete(conversationId);
      most = Math.max(most, starting.size);
    });
    const started = await Promise.all(Array.from({ length: 12 }, () => manager.newConversation(testConfig(home))));
    expect(new Set(started.map((s) => s.conversationId)).size).toBe(12);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(2);
    expect(manager.list().every((entry) => entry.state === "active")).toBe(true);
  });

  it("a conversation stopped while its start waits in the queue never starts a worker", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ maxConversations: 4, maxConcurrentStarts: 1, clock: new ManualClock(1_000_000) });
    const states = new Map<string, ConversationState[]>();
    let firstStillStarting: boolean | undefined;
    let shutdown: Promise<void> | undefined;
    manager.onStateChange(({ conversationId, state }) => {
      states.set(conversationId, [...(states.get(conversationId) ?? []), state]);
      // The second conversation is under supervision while the first holds the only start slot (a thread start
      // takes far longer than the second's way here): stop everything now.
      if (states.size === 2 && state === "spawning" && shutdown === undefined) {
        firstStillStarting = manager.list()[0]?.state !== "active";
        shutdown = manager.shutdown({ timeoutMs: 5_000 });
      }
    });
    const outcomes = [manager.newConversation(testConfig(home)), manager.newConversation(testConfig(home))].map((start) =>
      start.then(
        () => "started",
        (error: unknown) => error,
      ),
    );
    const [, second] = await Promise.all(outcomes);
    await shutdown;
    expect(firstStillStarting).toBe(true);
    expect(second).toBeInstanceOf(InternalAgentDiedError);
    const histories = [...states.values()];
    expect(histories[1]).toEqual(["spawning", "removed"]);
  });
});

describe("the top-level cap and sub-agents", () => {
  it("sub-agents do not count against maxConversations: one conversation may delegate; a second top-level one is refused", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ maxConversations: 1 });
    const { conversation } = await manager.newConversation(mock.config(home));
    const events = await answeredTurn(conversation, "DELEGATE: hello");
    expect(lastReply(events)).toMatch(/^Tool said: /);
    expect(lastReply(events)).not.toMatch(/failed/);
    expect(manager.list().map((entry) => entry.depth)).toEqual([0, 1]);
    await expect(manager.newConversation(mock.config(home))).rejects.toBeInstanceOf(CapacityError);
  });

  it("the manager's own sub-agent total holds across trees", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ maxConversations: 2, maxSubagents: 0 });
    const { conversation } = await manager.newConversation(mock.config(home));
    const events = await answeredTurn(conversation, "DELEGATE: hello");
    expect(lastReply(events)).toMatch(/sub-agent failed: cannot start a sub-agent: 0 are already running/);
  });
});

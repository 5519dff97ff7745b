// Crash containment and concurrency: one conversation's worker dying never disturbs another, and many
// conversations streaming at once each get exactly their own events, in order.
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { InternalAgentDiedError, WorkerCrashedError, type Event, type StateChange } from "../src/index.js";
import { FIXTURES, readTurn, runTurn, testConfig, textInput, useRuntime } from "./helpers.js";

const runtime = useRuntime();
const FAULTY_MODEL = path.join(FIXTURES, "models/faulty-model.mjs");

const lastMessage = (events: readonly Event[]): string | null | undefined =>
  (events.at(-1)?.msg as { last_agent_message?: string | null }).last_agent_message;

/** Checks one turn's events against Codex's order and returns the reply streamed in it. */
function checkTurn(events: readonly Event[], turnId: string): string {
  expect(events.every((event) => event.id === turnId)).toBe(true);
  const kinds = events.map((event) => event.msg.type);
  expect(kinds.slice(0, 4)).toEqual(["task_started", "item_started", "item_completed", "user_message"]);
  expect(kinds.slice(-3)).toEqual(["agent_message", "token_count", "task_complete"]);
  const deltas = events.flatMap((event) => (event.msg.type === "agent_message_delta" ? [event.msg.delta] : []));
  const final = events.find((event) => event.msg.type === "agent_message")?.msg as { message: string };
  expect(deltas.join("")).toBe(final.message);
  expect(events.at(-1)?.msg).toEqual({ type: "task_complete", last_agent_message: final.message });
  return final.message;
}

describe("concurrency", () => {
  it("50 conversations running turns at once each get exactly their own events, in order", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ maxConversations: 50, minThreads: 2 });
    const started = await Promise.all(
      Array.from({ length: 50 }, () => manager.newConversation(testConfig(home, { modelOptions: { deltaDelayMs: 1 } }))),
    );
    expect(new Set(started.map((s) => s.conversationId)).size).toBe(50);

    const replies = await Promise.all(
      started.map(async ({ conversation }, index) => {
        const turns: string[] = [];
        for (const round of [1, 2]) {
          const prompt = `conversation ${index} round ${round}`;
          const id = await conversation.submit(textInput(prompt));
          turns.push(checkTurn(await readTurn(conversation, id), id));
        }
        return turns;
      }),
    );
    replies.forEach((turns, index) => {
      expect(turns).toEqual([
        `Offline reply #1: you said "conversation ${index} round 1".`,
        `Offline reply #2: you said "conversation ${index} round 2".`,
      ]);
    });
  });
});

describe("crash containment", () => {
  it.each([
    ["throws an uncaught exception", "throw", "threw", /model exploded/],
    ["calls process.exit", "exit", "exited", /exited with code: 7/],
    ["runs out of heap", "oom", "out_of_memory", /memory/],
  ] as const)("a temporary conversation whose worker %s mid-turn fails, alone", async (_how, fault, reason, message) => {
    const home = await runtime.home();
    const manager = runtime.manager({
      maxConversations: 4,
      minThreads: 4,
      resourceLimits: { maxOldGenerationSizeMb: 48 },
    });
    const changes: StateChange[] = [];
    manager.onStateChange((change) => changes.push(change));

    const neighbours = await Promise.all(
      [0, 1, 2].map(() =>
        manager.newConversation(testConfig(home, { modelOptions: { deltaDelayMs: 2, repeat: 20 } })),
      ),
    );
    const victim = await manager.newConversation(
      testConfig(home, { modelProviderModule: FAULTY_MODEL, modelOptions: { fault }, restart: "temporary" }),
    );

    const neighbourTurns = neighbours.map(({ conversation }) => runTurn(conversation, "keep streaming"));
    const victimTurn = await victim.conversation.submit(textInput("crash please"));
    const victimEvents: Event[] = [];
    for await (const event of victim.conversation.events()) victimEvents.push(event);

    // Its turn ends for the client with the error (then task_complete), after whatever it had streamed; the stream ends.
    expect(victimEvents.slice(0, 2).map((event) => event.msg.type)).toEqual(["task_started", "item_started"]);
    expect(victimEvents.slice(-2)).toEqual([
      { id: victimTurn, msg: { type: "error", message: expect.stringMatching(message), code: "worker_crashed" } },
      { id: victimTurn, msg: { type: "task_complete", last_agent_message: null } },
    ]);

    // Its handle and its supervisor both say why.
    const submitError = await victim.conversation.submit(textInput("anyone?")).catch((error: unknown) => error);
    expect(submitError).toBeInstanceOf(WorkerCrashedError);
    expect(submitError).toBeInstanceOf(InternalAgentDiedError);
    expect(submitError).toMatchObject({ reason, conversationId: victim.conversationId });
    const info = manager.list().find((entry) => entry.conversationId === victim.conversationId);
    expect(info?.state).toBe("failed");
    expect(info?.cause).toBeInstanceOf(WorkerCrashedError);
    expect(changes.filter((c) => c.conversationId === victim.conversationId).at(-1)).toMatchObject({
      state: "failed",
      previous: "active",
    });

    // Every neighbour finishes its turn normally and stays usable.
    for (const events of await Promise.all(neighbourTurns)) {
      expect(events.at(-1)?.msg).toMatchObject({ type: "task_complete", last_agent_message: expect.stringContaining("keep streaming") });
    }
    for (const { conversation, conversationId } of neighbours) {
      const next = await runTurn(conversation, "still fine");
      expect(next.at(-1)?.msg.type).toBe("task_complete");
      expect(manager.list().find((entry) => entry.conversationId === conversationId)?.state).toBe("active");
    }
  });

  it.each([
    ["throws an uncaught exception", "throw", "threw"],
    ["calls process.exit", "exit", "exited"],
    ["runs out of heap", "oom", "out_of_memory"],
  ] as const)(
    "a conversation whose worker %s is restarted from its rollout: same handle, its history intact, neighbours undisturbed",
    async (_how, fault, reason) => {
      const home = await runtime.home();
      const manager = runtime.manager({ maxConversations: 3, minThreads: 3, resourceLimits: { maxOldGenerationSizeMb: 48 } });
      const neighbour = await manager.newConversation(testConfig(home, { modelOptions: { deltaDelayMs: 2, repeat: 20 } }));
      const victim = await manager.newConversation(
        testConfig(home, { modelProviderModule: FAULTY_MODEL, modelOptions: { fault, faultOn: "CRASH" } }),
      );
      const { conversation } = victim;
      expect(lastMessage(await runTurn(conversation, "remember apples"))).toBe("seen: remember apples");

      const neighbourTurn = runTurn(neighbour.conversation, "keep streaming");
      const crashed = await conversation.submit(textInput("CRASH now"));
      const events: Event[] = [];
      while (events.at(-1)?.msg.type !== "conversation_restarted") events.push(await conversation.nextEvent());

      // The turn in flight ends for the client (an error, then task_complete), then the stream says why it restarted.
      expect(events.slice(-3)).toEqual([
        { id: crashed, msg: { type: "error", message: expect.stringContaining("worker"), code: "worker_crashed" } },
        { id: crashed, msg: { type: "task_complete", last_agent_message: null } },
        { id: "", msg: { type: "conversation_restarted", reason, restarts: 1 } },
      ]);
      await expect.poll(() => manager.list().find((info) => info.conversationId === victim.conversationId)?.state).toBe("active");
      expect(manager.list().find((info) => info.conversationId === victim.conversationId)).toMatchObject({ restarts: 1, lastExit: reason });

      // The same handle goes on, and the model sees what was recorded before the crash.
      const after = await runTurn(conversation, "what did I say?");
      expect(lastMessage(after)).toBe("seen: remember apples | CRASH now | what did I say?");
      expect((await neighbourTurn).at(-1)?.msg.type).toBe("task_complete");
    },
  );

  it("terminate() hard-stops a conversation that hangs, and it is reported as killed", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ maxConversations: 2 });
    const victim = await manager.newConversation(
      testConfig(home, { modelProviderModule: FAULTY_MODEL, modelOptions: { fault: "hang" } }),
    );
    const neighbour = await manager.newConversation(testConfig(home));
    await victim.conversation.submit(textInput("hang"));
    let deltas = 0;
    while (deltas < 3) if ((await victim.conversation.nextEvent()).msg.type === "agent_message_delta") deltas += 1;
    await sleep(200); // the fixture's loop starts spinning 20 ms after its last delta
    // Its shutdown is never processed (the worker's loop is stuck), so shutdown() falls back to the kill.
    const end = await victim.conversation.shutdown({ timeoutMs: 300 });
    expect(end).toMatchObject({ ok: false, error: { reason: "killed" } });
    expect((await runTurn(neighbour.conversation, "hello")).at(-1)?.msg.type).toBe("task_complete");
  });
});

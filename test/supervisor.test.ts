// The supervisor on real worker threads: the hang watchdog (and the async work that must never trip it), dense
// mode where a thread's end touches every conversation on it, restart intensity, shutdown order and deadlines,
// sub-agents killed under their parent, the background jobs a command leaves behind, and a config that cannot
// start. Nothing here asserts timing: waits are bounded polls, and a hang fails through the test's timeout.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import {
  InternalAgentDiedError,
  InvalidConfigError,
  RestartIntensityError,
  WorkerCrashedError,
  type Conversation,
  type ConversationManager,
  type Event,
  type StateChange,
} from "../src/index.js";
import { FIXTURES, lastReply, readTurn, runTurn, testConfig, textInput, useMockModel, useRuntime } from "./helpers.js";

const runtime = useRuntime();
const mock = useMockModel();
const FAULTY_MODEL = path.join(FIXTURES, "models/faulty-model.mjs");

/** Reads events until `conversation_restarted`, returning everything read. */
async function untilRestarted(conversation: Conversation): Promise<Event[]> {
  const events: Event[] = [];
  while (events.at(-1)?.msg.type !== "conversation_restarted") events.push(await conversation.nextEvent());
  return events;
}

/** Every state change, for the test to inspect afterwards. */
function recordChanges(manager: ConversationManager): StateChange[] {
  const changes: StateChange[] = [];
  manager.onStateChange((change) => changes.push(change));
  return changes;
}

const statesOf = (changes: readonly StateChange[], conversationId: string): string[] =>
  changes.filter((change) => change.conversationId === conversationId).map((change) => change.state);

const infoOf = (manager: ConversationManager, conversationId: string) =>
  manager.list().find((info) => info.conversationId === conversationId);

describe("the hang watchdog", () => {
  it("kills a worker spinning a synchronous loop as hung and restarts it, and never a neighbour busy with async work", async () => {
    const home = await runtime.home();
    // Small, yet with room for the synchronous parts of spawning a command on a loaded machine (fork and exec).
    const manager = runtime.manager({ maxConversations: 3, minThreads: 3, hangTimeoutMs: 2_000 });
    const changes = recordChanges(manager);

    const victim = await manager.newConversation(
      testConfig(home, { modelProviderModule: FAULTY_MODEL, modelOptions: { fault: "hang", faultOn: "HANG" } }),
    );
    // A long stream: 140 deltas, one every 40 ms, several hang timeouts long.
    const streamer = await manager.newConversation(testConfig(home, { modelOptions: { deltaDelayMs: 40, repeat: 20 } }));
    // A command that outlasts the hang timeout several times over.
    const commander = await manager.newConversation(mock.config(home, { approvalPolicy: "never" }));

    const streaming = runTurn(streamer.conversation, "keep streaming");
    const commanding = runTurn(commander.conversation, "RUNSHELL: sleep 5; echo slept");
    const hanging = await victim.conversation.submit(textInput("HANG now"));

    const events = await untilRestarted(victim.conversation);
    expect(events.slice(-3)).toEqual([
      {
        id: hanging,
        msg: {
          type: "error",
          message: `conversation ${victim.conversationId} worker stopped answering (hung) and was killed: it did not answer in time`,
          code: "worker_crashed",
        },
      },
      { id: hanging, msg: { type: "task_complete", last_agent_message: null } },
      { id: "", msg: { type: "conversation_restarted", reason: "hung", restarts: 1 } },
    ]);
    await expect.poll(() => infoOf(manager, victim.conversationId)?.state, { timeout: 10_000 }).toBe("active");
    expect(infoOf(manager, victim.conversationId)).toMatchObject({ restarts: 1, lastExit: "hung" });
    expect(lastReply(await runTurn(victim.conversation, "are you back?"))).toBe("seen: HANG now | are you back?");

    // The neighbours finished their turns on the workers they started on.
    expect(lastReply(await streaming)).toContain("keep streaming");
    expect(lastReply(await commanding)).toBe("Tool said: slept");
    for (const { conversationId } of [streamer, commander]) {
      expect(statesOf(changes, conversationId)).toEqual(["spawning", "awaitingSessionConfigured", "active"]);
      expect(infoOf(manager, conversationId)).toMatchObject({ state: "active", restarts: 0, lastExit: undefined });
    }
  });
});

describe("a worker slow to start", () => {
  it("is not killed as hung while its thread loads: the hang timeout counts from when it runs", async () => {
    const home = await runtime.home();
    // Its module takes longer to load than the hang timeout.
    const manager = runtime.manager({ workerFilename: path.join(FIXTURES, "workers/slow-start.worker.mjs"), hangTimeoutMs: 1_000 });
    const changes = recordChanges(manager);
    const { conversation, conversationId } = await manager.newConversation(testConfig(home));
    expect(lastReply(await runTurn(conversation, "hello"))).toBe('Offline reply #1: you said "hello".');
    expect(statesOf(changes, conversationId)).toEqual(["spawning", "awaitingSessionConfigured", "active"]);
  });
});

describe("dense mode: a thread's end reaches every conversation on it", () => {
  it("when one conversation takes its thread down, each thread-mate is handled by its own spec", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ conversationsPerThread: 4, maxConversations: 4 });
    const changes = recordChanges(manager);
    const crasher = await manager.newConversation(
      testConfig(home, { modelProviderModule: FAULTY_MODEL, modelOptions: { fault: "exit", faultOn: "CRASH" } }),
    );
    const mates = await Promise.all([0, 1].map(() => manager.newConversation(testConfig(home))));
    const temporary = await manager.newConversation(testConfig(home, { restart: "temporary" }));
    expect(new Set(manager.list().map((info) => info.threadId)).size).toBe(1);
    for (const { conversation } of mates) await runTurn(conversation, "before");

    await crasher.conversation.submit(textInput("CRASH the thread"));
    for (const { conversation } of [crasher, ...mates]) {
      expect((await untilRestarted(conversation)).at(-1)?.msg).toEqual({
        type: "conversation_restarted",
        reason: "exited",
        restarts: 1,
      });
    }
    const end = await temporary.conversation.ended;
    expect(end).toMatchObject({ ok: false, error: expect.any(WorkerCrashedError) });
    expect(statesOf(changes, temporary.conversationId).at(-1)).toBe("failed");
    await expect(temporary.conversation.submit(textInput("anyone?"))).rejects.toBeInstanceOf(WorkerCrashedError);

    for (const { conversation, conversationId } of [crasher, ...mates]) {
      await expect.poll(() => infoOf(manager, conversationId)?.state, { timeout: 10_000 }).toBe("active");
      expect((await runTurn(conversation, "after")).at(-1)?.msg.type).toBe("task_complete");
    }
  });

  it("terminate() of one conversation fails that one alone and restarts its thread-mates", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ conversationsPerThread: 4, maxConversations: 4 });
    const changes = recordChanges(manager);
    const started = await Promise.all([0, 1, 2].map(() => manager.newConversation(testConfig(home))));
    expect(new Set(manager.list().map((info) => info.threadId)).size).toBe(1);
    const [victim, ...mates] = started as [(typeof started)[0], ...typeof started];

    manager.terminate(victim.conversationId);
    expect(await victim.conversation.ended).toMatchObject({ ok: false, error: { reason: "killed" } });
    expect(statesOf(changes, victim.conversationId)).not.toContain("restarting");
    expect(infoOf(manager, victim.conversationId)).toMatchObject({ state: "failed", restarts: 0, lastExit: "killed" });
    await expect(victim.conversation.submit(textInput("anyone?"))).rejects.toBeInstanceOf(WorkerCrashedError);

    for (const { conversation, conversationId } of mates) {
      expect((await untilRestarted(conversation)).at(-1)?.msg).toEqual({
        type: "conversation_restarted",
        reason: "killed",
        restarts: 1,
      });
      await expect.poll(() => infoOf(manager, conversationId)?.state, { timeout: 10_000 }).toBe("active");
      expect(infoOf(manager, conversationId)?.cause?.message).toBe(
        `conversation ${conversationId} worker was killed: its thread was ended by the supervisor (another conversation on it was killed)`,
      );
      expect(lastReply(await runTurn(conversation, "still here?"))).toBe('Offline reply #1: you said "still here?".');
    }
  });
});

describe("restart intensity on real threads", () => {
  it("a conversation crashing more often than allowed fails, and submit says so with the last crash as the cause", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ restartIntensity: { maxRestarts: 1, periodMs: 60_000 } });
    const changes = recordChanges(manager);
    const { conversation, conversationId } = await manager.newConversation(
      testConfig(home, { modelProviderModule: FAULTY_MODEL, modelOptions: { fault: "exit", faultOn: "CRASH" } }),
    );
    await conversation.submit(textInput("CRASH once"));
    expect((await untilRestarted(conversation)).at(-1)?.msg).toMatchObject({ type: "conversation_restarted", restarts: 1 });
    await expect.poll(() => infoOf(manager, conversationId)?.state, { timeout: 10_000 }).toBe("active");

    await conversation.submit(textInput("CRASH twice"));
    const end = await conversation.ended;
    expect(end.ok).toBe(false);
    expect(infoOf(manager, conversationId)).toMatchObject({ state: "failed", restarts: 1, lastExit: "exited" });
    expect(statesOf(changes, conversationId).at(-1)).toBe("failed");

    const error = await conversation.submit(textInput("anyone?")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestartIntensityError);
    expect(error).toMatchObject({ conversationId, maxRestarts: 1, periodMs: 60_000 });
    expect((error as RestartIntensityError).cause).toBeInstanceOf(WorkerCrashedError);
    expect((error as RestartIntensityError).cause).toMatchObject({ reason: "exited", conversationId });
  });
});

describe("a stop that arrives while a restart is starting", () => {
  it.each(["shutdown", "terminate"] as const)("%s() leaves no worker running and the rollout free", async (how) => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const config = testConfig(home, { modelProviderModule: FAULTY_MODEL, modelOptions: { fault: "exit", faultOn: "CRASH" } });
    const { conversation, conversationId } = await manager.newConversation(config);
    // The moment the restart starts (its rollout being read), the client gives up on the conversation.
    let stopped: Promise<unknown> | undefined;
    manager.onStateChange((change) => {
      if (change.conversationId !== conversationId || change.state !== "spawning" || change.previous !== "restarting") return;
      if (how === "shutdown") stopped = conversation.shutdown();
      else conversation.terminate();
    });
    await conversation.submit(textInput("CRASH"));
    await conversation.ended;
    await stopped;
    expect(infoOf(manager, conversationId)?.state).toBe(how === "shutdown" ? "removed" : "failed");

    // A restart that went ahead anyway would start its worker right after reading the rollout: long before a
    // new conversation has started and run a turn.
    const other = await manager.newConversation(testConfig(home));
    await runTurn(other.conversation, "hello");
    expect(manager.liveConversations).toBe(1);
    const resumed = await manager.resumeConversationFromRollout(config, conversation.rolloutPath);
    expect(lastReply(await runTurn(resumed.conversation, "back?"))).toBe("seen: CRASH | back?");
  });
});

describe("a conversation terminated before its worker started", () => {
  it("is not registered and leaves no worker running", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    manager.onStateChange((change) => {
      if (change.state === "spawning") manager.terminate(change.conversationId);
    });
    const error = await manager.newConversation(testConfig(home)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InternalAgentDiedError);
    expect((error as Error).message).toMatch(/before it started/);
    expect(manager.list()).toEqual([]);
    await expect.poll(() => manager.liveConversations, { timeout: 5_000 }).toBe(0);
  });
});

describe("shutdown", () => {
  it("stops a sub-agent before its parent, and every conversation exactly once", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const changes = recordChanges(manager);
    const root = await manager.newConversation(mock.config(home));
    await root.conversation.submit(textInput("DELEGATE: MOCK_SLOW tell a long story"));
    await expect.poll(() => manager.list()[1]?.state, { timeout: 10_000 }).toBe("active");
    const child = manager.list()[1];
    expect(child?.parentId).toBe(root.conversationId);
    const childId = child?.conversationId ?? "";

    await manager.shutdown();
    const childEnd = changes.findIndex((c) => c.conversationId === childId && (c.state === "removed" || c.state === "failed"));
    const parentStopping = changes.findIndex((c) => c.conversationId === root.conversationId && c.state === "stopping");
    expect(childEnd).toBeGreaterThanOrEqual(0);
    expect(parentStopping).toBeGreaterThan(childEnd);
    for (const id of [root.conversationId, childId]) {
      expect(statesOf(changes, id).filter((state) => state === "stopping")).toHaveLength(1);
      expect(["removed", "failed"]).toContain(statesOf(changes, id).at(-1));
    }
    expect(statesOf(changes, root.conversationId).at(-1)).toBe("removed");
    expect(manager.liveConversations).toBe(0);
  });

  it("leaves conversations that already ended alone (nothing is sent to their finished machines)", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const { conversation, conversationId } = await manager.newConversation(testConfig(home));
    manager.terminate(conversationId);
    await conversation.ended;
    const warn = vi.spyOn(console, "warn");
    try {
      manager.terminate(conversationId);
      await manager.shutdown();
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it("a conversation's own shutdown deadline holds when the manager's shutdown, with a longer one, comes next", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(
      testConfig(home, { modelProviderModule: FAULTY_MODEL, modelOptions: { fault: "hang" }, shutdown: 60_000 }),
    );
    await conversation.submit(textInput("hang"));
    let deltas = 0;
    while (deltas < 3) if ((await conversation.nextEvent()).msg.type === "agent_message_delta") deltas += 1;
    await new Promise((resolve) => setTimeout(resolve, 200)); // the fixture's loop starts spinning 20 ms after its last delta

    const ended = conversation.shutdown({ timeoutMs: 300 });
    const managerDone = manager.shutdown({ timeoutMs: 60_000 });
    // Past its own 300 ms the conversation is killed; waiting for the manager's minute would time the test out.
    expect(await ended).toMatchObject({ ok: false, error: { reason: "killed" } });
    await managerDone;
  }, 15_000);

  it("keeps its deadline when a conversation on a hung thread never got to start", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ conversationsPerThread: 4, maxConversations: 4 });
    const hung = await manager.newConversation(testConfig(home, { modelProviderModule: FAULTY_MODEL, modelOptions: { fault: "hang" } }));
    await hung.conversation.submit(textInput("hang"));
    let deltas = 0;
    while (deltas < 3) if ((await hung.conversation.nextEvent()).msg.type === "agent_message_delta") deltas += 1;
    await new Promise((resolve) => setTimeout(resolve, 200)); // the fixture's loop starts spinning 20 ms after its last delta

    // Its thread has room, so the next conversation is placed on it, where it never gets a turn of the loop.
    const stranded = manager.newConversation(testConfig(home)).catch((error: unknown) => error);
    await expect.poll(() => manager.list().length).toBe(2);
    expect(manager.list()[1]?.state).toBe("awaitingSessionConfigured");

    await manager.shutdown({ timeoutMs: 500 });
    // The one that never started is not registered; the hung one was killed at the deadline.
    expect(await stranded).toMatchObject({ name: "WorkerCrashedError", reason: "killed" });
    expect(await hung.conversation.ended).toMatchObject({ ok: false, error: { reason: "killed" } });
    expect(manager.list().map((info) => [info.conversationId, info.state])).toEqual([[hung.conversationId, "failed"]]);
  }, 15_000);
});

describe("a sub-agent killed by its supervisor", () => {
  it("reaches its parent as killed: the parent's turn goes on and its client hears why", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const root = await manager.newConversation(mock.config(home));
    const turnId = await root.conversation.submit(textInput("DELEGATE: MOCK_SLOW tell a long story"));
    await expect.poll(() => manager.list().find((info) => info.parentId === root.conversationId)?.state, { timeout: 10_000 }).toBe("active");
    const childId = manager.list().find((info) => info.parentId === root.conversationId)?.conversationId ?? "";

    manager.terminate(childId);
    const events = await readTurn(root.conversation, turnId);
    const errors = events.filter((event) => event.msg.type === "error");
    expect(errors).toEqual([
      {
        id: turnId,
        msg: {
          type: "error",
          message: `sub-agent failed: conversation ${childId} worker was killed: ended by its supervisor`,
          code: "worker_crashed",
        },
      },
    ]);
    expect(lastReply(events)).toBe(`Tool said: sub-agent failed: conversation ${childId} worker was killed: ended by its supervisor`);
    expect(infoOf(manager, childId)).toMatchObject({ state: "failed", lastExit: "killed", cause: { reason: "killed" } });
    expect(infoOf(manager, root.conversationId)).toMatchObject({ state: "active", restarts: 0 });
  });
});

// Outside the sandbox (whose pid namespace ends a command's jobs with it), where jobs outlive their command.
describe("background jobs a command leaves behind", () => {
  const BACKGROUND = "RUNSHELL: (sleep 100 & echo $! > bg.pid); echo started";

  async function startBackgroundJob(home: string, conversation: Conversation): Promise<number> {
    expect(lastReply(await runTurn(conversation, BACKGROUND))).toBe("Tool said: started");
    const pid = Number((await readFile(path.join(home, "bg.pid"), "utf8")).trim());
    expect(isAlive(pid)).toBe(true);
    return pid;
  }

  it("are killed by the manager's shutdown()", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(mock.config(home, { approvalPolicy: "never", sandboxPolicy: { mode: "danger-full-access" } }));
    const pid = await startBackgroundJob(home, conversation);
    await manager.shutdown();
    await expect.poll(() => isAlive(pid), { timeout: 5_000 }).toBe(false);
  });

  it("are killed by the conversation's own shutdown()", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(mock.config(home, { approvalPolicy: "never", sandboxPolicy: { mode: "danger-full-access" } }));
    const pid = await startBackgroundJob(home, conversation);
    expect(await conversation.shutdown()).toEqual({ ok: true });
    await expect.poll(() => isAlive(pid), { timeout: 5_000 }).toBe(false);
  });
});

describe("a config that cannot start", () => {
  it("an incomplete config rejects with InvalidConfigError and registers nothing", async () => {
    const manager = runtime.manager();
    const changes = recordChanges(manager);
    const error = await manager.newConversation({} as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as Error).message).toMatch(/missing cwd, home, model, modelProvider, approvalPolicy, sandboxPolicy/);
    await expect(manager.newConversation(undefined as never)).rejects.toBeInstanceOf(InvalidConfigError);
    expect(manager.list()).toEqual([]);
    expect(changes).toEqual([]);
    expect(manager.liveConversations).toBe(0);
  });
});

/** Running, as opposed to gone or a zombie (killed, but nobody has reaped it yet). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

describe("sub-agents and their parent's restart type", () => {
  async function delegateACrash(subagentRestart: "temporary" | "transient") {
    const home = await runtime.home();
    const manager = runtime.manager({ maxConversations: 4 });
    const { conversation, conversationId } = await manager.newConversation(
      testConfig(home, { modelProviderModule: FAULTY_MODEL, modelOptions: { fault: "exit", faultOn: "CRASH" }, subagentRestart }),
    );
    const events = await runTurn(conversation, "DELEGATE: CRASH in the child");
    const child = manager.list().find((info) => info.parentId === conversationId);
    return { events, child };
  }

  it("a sub-agent is temporary by default: its crash fails it, and the parent's turn goes on", async () => {
    const { events, child } = await delegateACrash("temporary");
    expect(child).toMatchObject({ state: "failed", restarts: 0, lastExit: "exited" });
    expect(lastReply(events)).toMatch(/^tool said: sub-agent failed: .*exited/);
  });

  it("a parent that says so gets its sub-agents restarted: the crashed task ends, the child comes back", async () => {
    const { events, child } = await delegateACrash("transient");
    expect(child).toMatchObject({ restarts: 1, lastExit: "exited" });
    expect(lastReply(events)).toMatch(/^tool said: sub-agent .* finished without an answer/);
  });
});

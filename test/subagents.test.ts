// Sub-agents across real worker threads, against the mock model over HTTP: a chain root -> child -> grandchild
// with approvals routed to the root's client, cancellation through every level, crashes, limits, review and
// compact, and sub-agent rollouts that stand on their own.
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  readRolloutHistory,
  type ConversationConfig,
  type ConversationManager,
  type Event,
} from "../src/index.js";
import { answeredTurn, lastReply, readTurn, textInput, types, useMockModel, useRuntime } from "./helpers.js";

const runtime = useRuntime();
const mock = useMockModel();

async function start(overrides: Partial<ConversationConfig> = {}) {
  const home = await runtime.home();
  const manager = runtime.manager({ maxConversations: 8 });
  const started = await manager.newConversation(mock.config(home, overrides));
  return { home, manager, ...started };
}

const turn = answeredTurn;

/** The manager's tree as [depth, parent's position in the list or -1] pairs, in spawn order. */
function tree(manager: ConversationManager) {
  const list = manager.list();
  return list.map((entry) => [entry.depth, list.findIndex((other) => other.conversationId === entry.parentId)]);
}

async function persistedEvents(rolloutPath: string): Promise<string[]> {
  const { items } = await readRolloutHistory(rolloutPath);
  return items.flatMap((item) => (item.type === "event_msg" ? [item.payload.type] : []));
}

describe("a grandchild's shell call that needs approval", () => {
  const CHAIN = "DELEGATE: DELEGATE: RUNSHELL: touch deep.txt && echo deep";

  it("reaches the root client once, with the path root -> child -> grandchild; approved, it runs and the answer flows up", async () => {
    const { home, manager, conversation, conversationId } = await start({ approvalPolicy: "untrusted" });
    const requests: Event[] = [];
    const pendingSeen: unknown[] = [];
    const events = await turn(conversation, CHAIN, (event) => {
      requests.push(event);
      pendingSeen.push(manager.pendingApprovals());
      return "approved";
    });

    const [child, grandchild] = manager.list().slice(1);
    expect(tree(manager)).toEqual([
      [0, -1],
      [1, 0],
      [2, 1],
    ]);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.msg).toMatchObject({
      type: "exec_approval_request",
      command: ["bash", "-lc", "touch deep.txt && echo deep"],
      conversation_path: [conversationId, child?.conversationId, grandchild?.conversationId],
    });
    expect(pendingSeen).toEqual([
      [expect.objectContaining({ conversationId, eventId: requests[0]?.id, path: [conversationId, child?.conversationId, grandchild?.conversationId] })],
    ]);
    expect(existsSync(path.join(home, "deep.txt"))).toBe(true);
    expect(lastReply(events)).toBe("Tool said: Tool said: Tool said: deep");
    expect(manager.pendingApprovals()).toEqual([]);
    await expect.poll(() => manager.liveConversations).toBe(1);
  });

  it("the grandchild's command is shown to the root client, begin and end, with the path down to it", async () => {
    const { conversation, conversationId, manager } = await start({ approvalPolicy: "untrusted" });
    const events = await turn(conversation, CHAIN, () => "approved");
    const [child, grandchild] = manager.list().slice(1);
    const path3 = [conversationId, child?.conversationId, grandchild?.conversationId];
    const commands = events.filter((event) => event.msg.type === "exec_command_begin" || event.msg.type === "exec_command_end");
    expect(commands.map((event) => event.msg)).toEqual([
      expect.objectContaining({ type: "exec_command_begin", command: ["bash", "-lc", "touch deep.txt && echo deep"], conversation_path: path3 }),
      expect.objectContaining({ type: "exec_command_end", exit_code: 0, stdout: "deep\n", conversation_path: path3 }),
    ]);
  });

  it("denied, nothing runs and the rejection flows up", async () => {
    const { home, conversation } = await start({ approvalPolicy: "untrusted" });
    const events = await turn(conversation, CHAIN, () => "denied");
    expect(existsSync(path.join(home, "deep.txt"))).toBe(false);
    expect(lastReply(events)).toBe("Tool said: Tool said: Tool said: exec command rejected by user");
  });

  it("aborted, nothing runs and every level's turn is aborted", async () => {
    const { home, manager, conversation } = await start({ approvalPolicy: "untrusted" });
    const events = await turn(conversation, CHAIN, () => "abort");
    expect(events.at(-1)?.msg).toEqual({ type: "turn_aborted", reason: "interrupted" });
    expect(existsSync(path.join(home, "deep.txt"))).toBe(false);
    await expect.poll(() => manager.liveConversations).toBe(1);
    for (const entry of manager.list().slice(1)) {
      expect(await persistedEvents(entry.rolloutPath)).toContain("turn_aborted");
    }
    expect(manager.pendingApprovals()).toEqual([]);
  });
});

describe("cancellation", () => {
  it("interrupting the root while the grandchild streams aborts every level and leaves no worker running", async () => {
    const { manager, conversation } = await start();
    const turnId = await conversation.submit(textInput("DELEGATE: DELEGATE: MOCK_SLOW tell a long story"));
    await expect.poll(() => manager.list().length, { timeout: 10_000 }).toBe(3);
    await expect.poll(() => manager.list()[2]?.state, { timeout: 10_000 }).toBe("active");
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the grandchild start streaming

    await conversation.submit({ type: "interrupt" });
    const rest = await readTurn(conversation, turnId);
    expect(rest.at(-1)?.msg).toEqual({ type: "turn_aborted", reason: "interrupted" });
    await expect.poll(() => manager.liveConversations, { timeout: 10_000 }).toBe(1);
    for (const entry of manager.list().slice(1)) {
      expect(entry.state).toBe("removed");
      expect(await persistedEvents(entry.rolloutPath)).toContain("turn_aborted");
    }
    expect(manager.pendingApprovals()).toEqual([]);
    expect(lastReply(await turn(conversation, "still here?"))).toMatch(/^Hello from mock/);
  });

  it("shutting the root down shuts its descendants down", async () => {
    const { manager, conversation } = await start();
    await conversation.submit(textInput("DELEGATE: DELEGATE: MOCK_SLOW tell a long story"));
    await expect.poll(() => manager.list()[2]?.state, { timeout: 10_000 }).toBe("active");
    await conversation.shutdown();
    await expect.poll(() => manager.liveConversations, { timeout: 10_000 }).toBe(0);
  });
});

describe("a child that dies mid-turn", () => {
  it("reaches its parent as an error event, and the parent's turn completes", async () => {
    const { manager, conversation } = await start();
    const turnId = await conversation.submit(textInput("DELEGATE: MOCK_SLOW tell a long story"));
    await expect.poll(() => manager.list()[1]?.state, { timeout: 10_000 }).toBe("active");
    const child = manager.list()[1];
    manager.terminate(child?.conversationId ?? "");

    const events = await readTurn(conversation, turnId);
    const error = events.find((event) => event.msg.type === "error")?.msg as { message: string };
    expect(error.message).toMatch(/sub-agent failed: .*killed/);
    expect(events.at(-1)?.msg.type).toBe("task_complete");
    expect(lastReply(events)).toMatch(/^Tool said: sub-agent failed/);
    expect(manager.list()[1]).toMatchObject({ state: "failed", cause: expect.objectContaining({ reason: "killed" }) });
  });
});

describe("limits", () => {
  it("a delegation deeper than allowed fails with a clear error the model sees", async () => {
    const { manager, conversation } = await start({ maxSubagentDepth: 1 });
    const events = await turn(conversation, "DELEGATE: DELEGATE: hello");
    expect(lastReply(events)).toMatch(/^Tool said: Tool said: sub-agent failed: cannot start a sub-agent: sub-agents may nest at most 1 deep/);
    expect(manager.list().map((entry) => entry.depth)).toEqual([0, 1]);
  });

  it("more live sub-agents than allowed fail with a clear error", async () => {
    const { manager, conversation } = await start({ maxSubagents: 1 });
    const events = await turn(conversation, "DELEGATE: DELEGATE: hello");
    expect(lastReply(events)).toMatch(/sub-agent failed: cannot start a sub-agent: 1 are already running/);
    expect(manager.list()).toHaveLength(2);
  });
});

describe("review", () => {
  it("runs as a sub-agent: entered and exited review mode with the parsed output, and a <user_action> note recorded", async () => {
    const { manager, conversation } = await start();
    const id = await conversation.submit({
      type: "review",
      review_request: { prompt: "Review the change to the parser.", user_facing_hint: "parser change" },
    });
    const events = await readTurn(conversation, id);
    expect(types(events)[0]).toBe("task_started");
    expect(events[1]?.msg).toEqual({ type: "entered_review_mode", prompt: "Review the change to the parser.", user_facing_hint: "parser change" });
    const exited = events.find((event) => event.msg.type === "exited_review_mode")?.msg as { review_output: { overall_explanation: string } };
    expect(exited.review_output.overall_explanation).toMatch(/^Hello from mock, reply #\d+$/);
    expect(types(events)).not.toContain("agent_message");
    expect(events.at(-1)?.msg).toEqual({ type: "task_complete", last_agent_message: null });
    expect(manager.list()[1]).toMatchObject({ depth: 1, state: "removed" });

    await conversation.shutdown();
    const { items } = await readRolloutHistory(conversation.rolloutPath);
    const note = items.find((item) => item.type === "response_item" && item.payload.type === "message" && JSON.stringify(item.payload).includes("<user_action>"));
    expect(note).toBeDefined();
    const reviewMeta = (await readRolloutHistory(manager.list()[1]?.rolloutPath ?? "")).meta;
    expect(reviewMeta.source).toEqual({ subagent: "review" });
  });
});

describe("compact", () => {
  it("summarises through a sub-agent, records a compacted line, and the history rebuilt on resume holds the summary", async () => {
    const { home, manager, conversation } = await start();
    await turn(conversation, "first question");
    const compactId = await conversation.submit({ type: "compact" });
    const events = await readTurn(conversation, compactId);
    expect(types(events)).toEqual(["task_started", "agent_message", "warning", "task_complete"]);
    await conversation.shutdown();

    const { items } = await readRolloutHistory(conversation.rolloutPath);
    const compacted = items.find((item) => item.type === "compacted");
    expect(compacted?.payload).toEqual({ message: expect.stringMatching(/^Hello from mock, reply #\d+$/) });
    expect((await readRolloutHistory(manager.list()[1]?.rolloutPath ?? "")).meta.source).toEqual({ subagent: "compact" });

    const resumed = await manager.resumeConversationFromRollout(mock.config(home), conversation.rolloutPath);
    const before = mock.server.requests.length;
    await turn(resumed.conversation, "after resume");
    const input = (mock.server.requests[before]?.body as { input: { content: { text: string }[] }[] }).input;
    const texts = input.map((item) => item.content[0]?.text ?? "");
    expect(texts).toContain((compacted?.payload as { message: string }).message);
    expect(texts).toContain("first question");
    expect(texts.at(-1)).toBe("after resume");
  });
});

describe("sub-agent rollouts", () => {
  it("record their parent and depth, and resume on their own", async () => {
    const { home, manager, conversation, conversationId } = await start();
    await turn(conversation, "DELEGATE: say something");
    const child = manager.list()[1];
    const history = await readRolloutHistory(child?.rolloutPath ?? "");
    expect(history.meta).toMatchObject({
      parent_id: conversationId,
      depth: 1,
      source: { subagent: { thread_spawn: { parent_thread_id: conversationId, depth: 1 } } },
    });

    const resumed = await manager.resumeConversationFromRollout(mock.config(home), child?.rolloutPath ?? "");
    expect(resumed.conversationId).toBe(child?.conversationId);
    expect(resumed.sessionConfigured.initial_messages?.map((msg) => msg.type)).toContain("user_message");
    expect(lastReply(await turn(resumed.conversation, "and on your own?"))).toMatch(/^Hello from mock/);
  });

  it("ended ones are listed up to a limit, those that ended first dropped first; one resumed on its own stays", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ maxConversations: 8, endedSubagentRecords: 1 });
    const { conversation, conversationId } = await manager.newConversation(mock.config(home));
    await turn(conversation, "DELEGATE: say something");
    const first = manager.list()[1];
    // Resumed as a conversation of its own, it takes the place of its ended sub-agent record.
    const resumed = await manager.resumeConversationFromRollout(mock.config(home), first?.rolloutPath ?? "");
    await turn(conversation, "DELEGATE: say more");
    await turn(conversation, "DELEGATE: say the rest");
    const list = manager.list();
    expect(list.map((entry) => [entry.conversationId === conversationId ? "root" : entry.depth, entry.state])).toEqual([
      ["root", "active"],
      [0, "active"],
      [1, "removed"],
    ]);
    expect(list[1]?.conversationId).toBe(resumed.conversationId);
    expect(manager.getConversation(resumed.conversationId)).toBe(resumed.conversation);
    expect(lastReply(await turn(resumed.conversation, "still here?"))).toMatch(/^Hello from mock/);
  });
});

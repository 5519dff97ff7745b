// Supervision edge cases: dense mode, hard stops that leave nothing running, one writer per rollout, a worker
// that dies before it announces itself, and sub-agents that follow their parent's current rules.
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CapacityError, ConversationInUseError, RolloutError, WorkerCrashedError } from "../src/index.js";
import { FIXTURES, answeredTurn, lastReply, runTurn, testConfig, textInput, useMockModel, useRuntime } from "./helpers.js";

const runtime = useRuntime();
const mock = useMockModel();

describe("dense mode", () => {
  it("packs several conversations per thread and still fails fast at the cap", async () => {
    const home = await runtime.home();
    const manager = runtime.manager({ conversationsPerThread: 4, maxConversations: 4 });
    const started = await Promise.all([0, 1, 2, 3].map(() => manager.newConversation(testConfig(home))));
    const threads = new Set(manager.list().map((info) => info.threadId));
    expect(threads.size).toBe(1);
    await expect(manager.newConversation(testConfig(home))).rejects.toBeInstanceOf(CapacityError);
    for (const { conversation } of started) expect((await runTurn(conversation, "hi")).at(-1)?.msg.type).toBe("task_complete");
  });
});

describe("hard stops", () => {
  it("shutdown() keeps its deadline even when the submission queue is full of ops the worker never takes", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(
      testConfig(home, { modelProviderModule: path.join(FIXTURES, "models/faulty-model.mjs"), modelOptions: { fault: "hang" } }),
    );
    await conversation.submit(textInput("hang"));
    let deltas = 0;
    while (deltas < 3) if ((await conversation.nextEvent()).msg.type === "agent_message_delta") deltas += 1;
    await new Promise((resolve) => setTimeout(resolve, 200)); // the fixture's loop starts spinning 20 ms after its last delta
    for (let i = 0; i < 63; i++) await conversation.submit({ type: "override_turn_context", model: `m${i}` });

    const end = await conversation.shutdown({ timeoutMs: 500 });
    expect(end).toMatchObject({ ok: false, error: { reason: "killed" } });
  });

  it("terminating a conversation kills the commands it was running", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const { conversation, conversationId } = await manager.newConversation(
      mock.config(home, { approvalPolicy: "never", sandboxPolicy: { mode: "danger-full-access" } }),
    );
    await conversation.submit(textInput("RUNSHELL: echo $$ > pid.txt; exec sleep 30"));
    const pidFile = path.join(home, "pid.txt");
    await expect.poll(async () => (await readFile(pidFile, "utf8").catch(() => "")).trim(), { timeout: 10_000 }).not.toBe("");
    const pid = Number((await readFile(pidFile, "utf8")).trim());

    manager.terminate(conversationId);
    const end = await conversation.ended;
    expect(end).toMatchObject({ ok: false, error: expect.any(WorkerCrashedError) });
    await expect.poll(() => isAlive(pid), { timeout: 5_000 }).toBe(false);
  });
});

describe("one writer per rollout", () => {
  it("a removed conversation that is still running cannot be resumed a second time", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const { conversation, conversationId } = await manager.newConversation(testConfig(home));
    manager.removeConversation(conversationId);
    await expect(manager.resumeConversationFromRollout(testConfig(home), conversation.rolloutPath)).rejects.toBeInstanceOf(
      ConversationInUseError,
    );
    await conversation.shutdown();
    await expect(manager.resumeConversationFromRollout(testConfig(home), conversation.rolloutPath)).resolves.toMatchObject({
      conversationId,
    });
  });
});

describe("a session that cannot start", () => {
  it("fails newConversation with its own cause, not as a protocol violation", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const error = await manager
      .newConversation(testConfig(home, { home: path.join(FIXTURES, "models/faulty-model.mjs", "not-a-dir") }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect((error as WorkerCrashedError).cause).toBeInstanceOf(RolloutError);
    expect(manager.list()).toEqual([]);
  });
});

describe("sub-agents follow their parent's current rules", () => {
  it("a policy tightened mid-session applies to commands a sub-agent runs", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const { conversation } = await manager.newConversation(mock.config(home, { approvalPolicy: "never" }));
    await conversation.submit({ type: "override_turn_context", approval_policy: "untrusted" });
    const asked: string[][] = [];
    const events = await answeredTurn(conversation, "DELEGATE: RUNSHELL: touch child.txt", (event) => {
      asked.push((event.msg as { conversation_path: string[] }).conversation_path);
      return "denied";
    });
    expect(asked).toHaveLength(1);
    expect(existsSync(path.join(home, "child.txt"))).toBe(false);
    expect(lastReply(events)).toBe("Tool said: Tool said: exec command rejected by user");
  });
});

/** Running, as opposed to gone or a zombie (killed, but its parent thread died before it could reap it). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
}

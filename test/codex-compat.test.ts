// Files written by the Codex CLI (0.169.0) resume and fork here, and files written here round-trip.
import { copyFile, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readRolloutHistory, type Event } from "../src/index.js";
import { FIXTURES, runTurn, testConfig, useRuntime } from "./helpers.js";

const runtime = useRuntime();

const CODEX_FILES = {
  execA: { file: "exec-a-two-turn-resume.jsonl", id: "01a20ac5-73ac-7500-b99c-82674d8e6a5d" },
  execB: { file: "exec-b-shell-tool-call-nosandbox-then-resumed-plain-turn.jsonl" },
  appServer: { file: "appserver-d-plain-turn-then-shell-tool-turn-then-resumed-turn.jsonl" },
} as const;

/** Puts a Codex fixture into `home` the way Codex lays out its sessions directory. */
async function installCodexRollout(home: string, file: string): Promise<string> {
  const source = path.join(FIXTURES, "codex-rollouts", file);
  const meta = JSON.parse((await readFile(source, "utf8")).split("\n")[0] ?? "") as { payload: { id: string } };
  const target = path.join(home, "sessions/2026/11/23", `rollout-2026-11-23T23-37-22-${meta.payload.id}.jsonl`);
  await mkdir(path.dirname(target), { recursive: true });
  await copyFile(source, target);
  return target;
}

const lastReply = (events: readonly Event[]) => (events.at(-1)?.msg as { last_agent_message?: string }).last_agent_message;

describe("Codex rollouts", () => {
  it("a Codex session resumes under its own id, with its turns counted as history, and Codex's lines left intact", async () => {
    const home = await runtime.home();
    const file = await installCodexRollout(home, CODEX_FILES.execA.file);
    const original = await readFile(file, "utf8");
    const manager = runtime.manager();

    const resumed = await manager.resumeConversationFromRollout(testConfig(home), file);
    expect(resumed.conversationId).toBe(CODEX_FILES.execA.id);
    const initialTypes = resumed.sessionConfigured.initial_messages?.map((msg) => msg.type) ?? [];
    expect(initialTypes.filter((type) => type === "task_complete")).toHaveLength(2);
    expect(initialTypes).toContain("item_completed");

    const events = await runTurn(resumed.conversation, "This is turn three.");
    expect(lastReply(events)).toBe('Offline reply #3: you said "This is turn three.".');
    await resumed.conversation.shutdown();

    const after = await readFile(file, "utf8");
    expect(after.startsWith(original)).toBe(true);
    const history = await readRolloutHistory(file);
    expect(history.skipped).toEqual([]);
    expect(history.conversationId).toBe(CODEX_FILES.execA.id);
    const ownLines = after.slice(original.length).trim().split("\n").map((line) => JSON.parse(line) as { ordinal: number });
    expect(ownLines[0]?.ordinal).toBe(original.trim().split("\n").length);
  });

  it.each([
    [CODEX_FILES.execA.file, 1, "Offline reply #2"],
    [CODEX_FILES.execB.file, 1, "Offline reply #2"],
    [CODEX_FILES.appServer.file, 2, "Offline reply #3"],
  ])("forking %s before user message %i keeps the turns before it under a new id", async (file, nth, reply) => {
    const home = await runtime.home();
    const source = await installCodexRollout(home, file);
    const sourceHistory = await readRolloutHistory(source);
    const manager = runtime.manager();

    const fork = await manager.forkConversation(nth, testConfig(home), source);
    expect(fork.conversationId).not.toBe(sourceHistory.conversationId);
    expect(fork.conversationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    const events = await runTurn(fork.conversation, "a different question");
    expect(lastReply(events)).toBe(`${reply}: you said "a different question".`);
    await fork.conversation.shutdown();

    const forkHistory = await readRolloutHistory(fork.conversation.rolloutPath);
    expect(forkHistory.conversationId).toBe(fork.conversationId);
    const metaIds = forkHistory.items.flatMap((item) => (item.type === "session_meta" ? [item.payload.id] : []));
    expect(metaIds).toEqual([fork.conversationId, sourceHistory.conversationId]);
  });

  it("the fork of the shell-tool session keeps the tool call and its output", async () => {
    const home = await runtime.home();
    const source = await installCodexRollout(home, CODEX_FILES.execB.file);
    const fork = await runtime.manager().forkConversation(1, testConfig(home), source);
    await fork.conversation.shutdown();
    const { items } = await readRolloutHistory(fork.conversation.rolloutPath);
    const payloadTypes = items.flatMap((item) => (item.type === "response_item" ? [item.payload.type] : []));
    expect(payloadTypes).toContain("function_call");
    expect(payloadTypes).toContain("function_call_output");
  });
});

describe("llmx rollouts", () => {
  const ECHO_MODEL = path.join(FIXTURES, "models/history-echo-model.mjs");

  it("round-trip: a conversation resumed from its file shows its model exactly the history it had", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const config = testConfig(home, { modelProviderModule: ECHO_MODEL });
    const prompts = ["first", "second", "third"];

    const straight = await manager.newConversation(config);
    const straightReplies = [];
    for (const prompt of prompts) straightReplies.push(lastReply(await runTurn(straight.conversation, prompt)));

    const interrupted = await manager.newConversation(config);
    const replies = [];
    for (const prompt of prompts.slice(0, 2)) replies.push(lastReply(await runTurn(interrupted.conversation, prompt)));
    await interrupted.conversation.shutdown();
    const resumed = await manager.resumeConversationFromRollout(config, interrupted.conversation.rolloutPath);
    replies.push(lastReply(await runTurn(resumed.conversation, "third")));

    expect(replies).toEqual(straightReplies);
    expect(new Set(replies).size).toBe(3);
  });

  it("round-trip: what the recorder wrote reads back as the events that were delivered", async () => {
    const home = await runtime.home();
    const { conversation } = await runtime.manager().newConversation(testConfig(home));
    const delivered = [...(await runTurn(conversation, "one")), ...(await runTurn(conversation, "two"))];
    await conversation.shutdown();

    const { items, skipped } = await readRolloutHistory(conversation.rolloutPath);
    expect(skipped).toEqual([]);
    const persistedTypes = new Set(["user_message", "agent_message", "token_count"]);
    const recordedEvents = items.flatMap((item) => (item.type === "event_msg" ? [item.payload] : []));
    expect(recordedEvents).toEqual(delivered.map((event) => event.msg).filter((msg) => persistedTypes.has(msg.type)));
  });
});

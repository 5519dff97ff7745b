// The library surface a program uses: one-call turns (run / runStreamed), aborts, typed failures, configs checked
// where they enter, loadConfig, `await using`, resume by id, watching a sub-agent, and a program that forgets
// shutdown() still exiting. Real worker threads, real files, real HTTP to the mock model.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it, vi } from "vitest";
import {
  AbortError,
  ConversationManager,
  InvalidConfigError,
  InvalidOpError,
  LlmxError,
  ReadOnlyConversationError,
  TurnFailedError,
  UnknownConversationIdError,
  createConfig,
  loadConfig,
  readRolloutHistory,
  type ConversationConfig,
  type Event,
} from "../src/index.js";
import { testConfig, useMockModel, useRuntime } from "./helpers.js";

const runtime = useRuntime();
const mock = useMockModel();
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

async function start(overrides: Partial<ConversationConfig> = {}) {
  const home = await runtime.home();
  const manager = runtime.manager();
  const started = await manager.newConversation(mock.config(home, overrides));
  return { home, manager, ...started };
}

describe("conversation.run", () => {
  it("runs one turn and returns its final response, its items and its usage", async () => {
    const { conversation } = await start();
    const result = await conversation.run("hello there");
    expect(result.finalResponse).toMatch(/^Hello from mock, reply #\d+/);
    expect(result.items.every((event) => event.id === result.submissionId)).toBe(true);
    expect(result.items.map((event) => event.msg.type)).toContain("agent_message");
    expect(result.items.some((event) => event.msg.type.endsWith("_delta"))).toBe(false);
    expect(result.items.at(-1)?.msg.type).toBe("task_complete");
    expect(result.usage?.total_tokens).toBeGreaterThan(0);

    const second = await conversation.run([{ type: "text", text: "and again" }]);
    expect(second.finalResponse).toMatch(/^Hello from mock, reply #\d+/);
    expect(second.submissionId).not.toBe(result.submissionId);
  });

  it("sends a turn with an output schema as a user_turn op, and the turn completes", async () => {
    const { conversation } = await start();
    const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] };
    await conversation.submit({ type: "override_turn_context", approval_policy: "never" });
    const submit = vi.spyOn(conversation, "submit");
    const result = await conversation.run("structured please", { outputSchema: schema });
    expect(result.finalResponse).toMatch(/^Hello from mock/);
    expect(submit.mock.calls[0]?.[0]).toMatchObject({
      type: "user_turn",
      items: [{ type: "text", text: "structured please" }],
      final_output_json_schema: schema,
      model: "mock-model",
      approval_policy: "never",
      sandbox_policy: { mode: "read-only" },
      cwd: conversation.turnContext().cwd,
    });
  });

  it("an error event during the turn rejects with TurnFailedError carrying the event's code; the next turn works", async () => {
    const { conversation } = await start();
    const failed = await conversation.run("MOCK_401 please").catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(TurnFailedError);
    expect(failed).toMatchObject({ code: "turn_failed", errorCode: "model_auth" });
    expect((await conversation.run("hello")).finalResponse).toMatch(/^Hello from mock/);
  });

  it("an aborted signal interrupts the turn: AbortError (name AbortError), and the conversation stays usable", async () => {
    const { conversation } = await start();
    const controller = new AbortController();
    const turn = await conversation.runStreamed("MOCK_SLOW tell a long story", { signal: controller.signal });
    const seen: Event[] = [];
    const failure = await (async () => {
      for await (const event of turn.events) {
        seen.push(event);
        if (event.msg.type === "agent_message_delta") controller.abort();
      }
    })().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AbortError);
    expect((failure as Error).name).toBe("AbortError");
    expect(seen.at(-1)?.msg).toMatchObject({ type: "turn_aborted", reason: "interrupted" });

    const again = new AbortController();
    const running = conversation.run("MOCK_SLOW another long story", { signal: again.signal });
    setTimeout(() => again.abort(), 200);
    await expect(running).rejects.toMatchObject({ name: "AbortError", code: "aborted" });

    const result = await conversation.run("still there?");
    expect(result.finalResponse).toMatch(/^Hello from mock/);
  });

  it("a signal aborted before the call, or bad input, submits nothing", async () => {
    const { conversation } = await start();
    await expect(conversation.run("never sent", { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    await expect(conversation.run([{ type: "video", url: "x" } as never])).rejects.toBeInstanceOf(InvalidOpError);
    await expect(conversation.run(42 as never)).rejects.toBeInstanceOf(InvalidOpError);
    const result = await conversation.run("first real turn");
    expect(result.submissionId).toBe("0");
    expect(result.finalResponse).toMatch(/^Hello from mock/);
  });

  it("runStreamed yields that turn's events only, ending with its task_complete", async () => {
    const { conversation } = await start();
    const turn = await conversation.runStreamed("hi");
    const events: Event[] = [];
    for await (const event of turn.events) events.push(event);
    expect(events.every((event) => event.id === turn.submissionId)).toBe(true);
    expect(events[0]?.msg.type).toBe("task_started");
    expect(events.at(-1)?.msg.type).toBe("task_complete");
    expect(events.some((event) => event.msg.type === "agent_message_delta")).toBe(true);
  });
});

describe("configs are checked where they enter", () => {
  it("refuses a bad config with InvalidConfigError naming the field", async () => {
    const home = await runtime.home();
    const manager = runtime.manager();
    const good = testConfig(home);
    const cases: [unknown, string][] = [
      [{}, "cwd"],
      [{ ...good, model: 5 }, "model"],
      [{ ...good, approvalPolicy: "sometimes" }, "approvalPolicy"],
      [{ ...good, sandboxPolicy: { mode: "everything" } }, "sandboxPolicy"],
      [{ ...good, cwd: "relative/dir" }, "cwd"],
      [{ ...good, cwd: path.join(home, "missing") }, "cwd"],
      [{ ...good, maxSubagents: 0 }, "maxSubagents"],
      [{ ...good, approval_policy: "never" }, "approval_policy"],
    ];
    for (const [config, field] of cases) {
      const error = await manager.newConversation(config as ConversationConfig).catch((e: unknown) => e);
      expect(error, JSON.stringify(config)).toBeInstanceOf(InvalidConfigError);
      expect((error as InvalidConfigError).field, (error as Error).message).toBe(field);
      expect((error as Error).message).toContain(field);
    }
    await expect(manager.resumeConversationById("01a20000-0000-7000-8000-000000000000", { ...good, home: "rel" })).rejects.toMatchObject({
      code: "invalid_config",
      field: "home",
    });
    expect(manager.liveConversations).toBe(0);
  });

  it("loadConfig reads $LLMX_HOME/config.toml, applies overrides and validates the result", async () => {
    const home = await runtime.home();
    await writeFile(
      path.join(home, "config.toml"),
      `model = "mock-model"\nmodel_provider = "mock"\napproval_policy = "never"\n[model_providers.mock]\nbase_url = "${mock.server.url}"\n`,
    );
    const saved = process.env.LLMX_HOME;
    process.env.LLMX_HOME = home;
    try {
      const config = await loadConfig({ cwd: home });
      expect(config).toMatchObject({ home, cwd: home, model: "mock-model", modelProvider: "mock", approvalPolicy: "never" });
      expect(config.provider?.baseUrl).toBe(mock.server.url.replace(/\/+$/, ""));
      const tuned = await loadConfig({ cwd: home, approvalPolicy: "on-request", config: { maxSubagents: 2 } });
      expect(tuned).toMatchObject({ approvalPolicy: "on-request", maxSubagents: 2 });
      await expect(loadConfig({ config: { approvalPolicy: "bogus" as never } })).rejects.toMatchObject({
        code: "invalid_config",
        field: "approvalPolicy",
      });
      const manager = runtime.manager();
      const { conversation } = await manager.newConversation(config);
      expect((await conversation.run("from config.toml")).finalResponse).toMatch(/^Hello from mock/);
    } finally {
      if (saved === undefined) delete process.env.LLMX_HOME;
      else process.env.LLMX_HOME = saved;
    }
    await writeFile(path.join(home, "config.toml"), "model = [\n");
    await expect(loadConfig({ home })).rejects.toBeInstanceOf(InvalidConfigError);
  });

  it("createConfig is defaults only: config.toml is not read", async () => {
    const home = await runtime.home();
    await writeFile(path.join(home, "config.toml"), `model = "from-toml"\n`);
    expect(createConfig({ home, cwd: home }).model).toBe("llmx-offline");
  });
});

describe("await using", () => {
  it("shuts the manager and a conversation down at the end of the scope", async () => {
    const home = await runtime.home();
    let outer: ConversationManager | undefined;
    {
      await using manager = new ConversationManager({ minThreads: 0, maxConversations: 4 });
      outer = manager;
      {
        await using started = await manager.newConversation(testConfig(home)).then((s) => s.conversation);
        await started.run("hi");
        expect(manager.liveConversations).toBe(1);
      }
      expect(manager.liveConversations).toBe(0);
      await manager.newConversation(testConfig(home));
    }
    expect(outer.liveConversations).toBe(0);
    await expect(outer.newConversation(testConfig(home))).rejects.toBeInstanceOf(LlmxError);
    await outer.shutdown();
  });
});

describe("resumeConversationById", () => {
  it("finds the rollout by id in the home and resumes it; an unknown id is a typed error", async () => {
    const { home, manager, conversation, conversationId } = await start();
    await conversation.run("remember this");
    await conversation.shutdown();
    const resumed = await manager.resumeConversationById(conversationId, mock.config(home));
    expect(resumed.conversationId).toBe(conversationId);
    expect(resumed.conversation.rolloutPath).toBe(conversation.rolloutPath);
    await resumed.conversation.run("and this");
    const history = await readRolloutHistory(conversation.rolloutPath);
    const texts = JSON.stringify(history.items);
    expect(texts).toContain("remember this");
    expect(texts).toContain("and this");

    await expect(manager.resumeConversationById("01a20000-0000-7000-8000-000000000000", mock.config(home))).rejects.toBeInstanceOf(
      UnknownConversationIdError,
    );
    await expect(manager.resumeConversationById("not-an-id", mock.config(home))).rejects.toMatchObject({ code: "unknown_conversation_id" });
  });
});

describe("manager.watch", () => {
  it("gives a read-only view of a sub-agent's events by its id", async () => {
    const { manager, conversation, conversationId } = await start();
    const turn = await conversation.runStreamed("DELEGATE: MOCK_SLOW tell a long story");
    const parentEvents = (async () => {
      const events: Event[] = [];
      for await (const event of turn.events) events.push(event);
      return events;
    })();
    await expect.poll(() => manager.list().find((info) => info.parentId === conversationId)?.state, { timeout: 10_000 }).toBe("active");
    const childId = manager.list().find((info) => info.parentId === conversationId)?.conversationId ?? "";
    const watch = manager.watch(childId);
    await expect(watch.submit({ type: "interrupt" })).rejects.toBeInstanceOf(ReadOnlyConversationError);
    const watched: Event[] = [];
    for await (const event of watch.events()) {
      watched.push(event);
      if (event.msg.type === "task_complete") break;
    }
    watch.close();
    expect(watched.some((event) => event.msg.type === "agent_message_delta")).toBe(true);
    expect(watched.at(-1)?.msg).toMatchObject({ type: "task_complete", last_agent_message: expect.stringMatching(/streamed slowly/) });
    expect((await parentEvents).at(-1)?.msg.type).toBe("task_complete");

    expect(() => manager.watch(conversationId)).toThrow(LlmxError);
    expect(() => manager.watch("01a20000-0000-7000-8000-000000000000")).toThrow(/no conversation/);
  });
});

describe("a program that forgets shutdown()", () => {
  it("still exits once its conversation is idle", async () => {
    const home = await runtime.home();
    const dir = path.join(home, "program");
    await mkdir(dir);
    const script = path.join(dir, "forgets-shutdown.mjs");
    const entry = pathToFileURL(path.join(ROOT, "dist/src/index.js")).href;
    await writeFile(
      script,
      [
        `import { ConversationManager, createConfig } from ${JSON.stringify(entry)};`,
        `const manager = new ConversationManager({ minThreads: 1 });`,
        `const { conversation } = await manager.newConversation(createConfig({ home: ${JSON.stringify(home)}, cwd: ${JSON.stringify(home)} }));`,
        `const result = await conversation.run("hi");`,
        `console.log(result.finalResponse);`,
      ].join("\n"),
    );
    const outcome = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [script], { timeout: 60_000, killSignal: "SIGKILL" }, (error, stdout, stderr) =>
        resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr: stderr || (error?.message ?? "") }),
      );
    });
    expect(outcome.signal, outcome.stderr).toBeNull();
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toMatch(/Offline reply #1/);
  });
});

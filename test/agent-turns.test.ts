// Real agent turns over HTTP against the local mock model: tool calls, approvals under each policy and
// decision, interrupts, retries and provider errors. Real worker threads, real processes, real files.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  UnknownApprovalError,
  readRolloutHistory,
  type Event,
} from "../src/index.js";
import { answeredTurn, lastReply, readTurn, textInput, types, useMockModel, useRuntime } from "./helpers.js";

const runtime = useRuntime();
const mock = useMockModel();

async function start(overrides: Parameters<typeof mock.config>[1] = {}) {
  const home = await runtime.home();
  const manager = runtime.manager();
  const started = await manager.newConversation(mock.config(home, overrides));
  return { home, manager, ...started };
}

const turnWithApprovals = answeredTurn;
const toolEvents = (events: readonly Event[]) =>
  types(events).filter((type) => type.startsWith("exec_") || type === "task_complete" || type === "turn_aborted");

describe("a shell call that needs approval (untrusted, read-only)", () => {
  it("approved: the command runs, its output reaches the model and the rollout records call and output", async () => {
    const { home, conversation } = await start({ approvalPolicy: "untrusted" });
    const events = await turnWithApprovals(conversation, "RUNSHELL: touch approved.txt && echo made it", () => "approved");

    expect(toolEvents(events)).toEqual([
      "exec_command_begin",
      "exec_approval_request",
      "exec_command_output_delta",
      "exec_command_end",
      "task_complete",
    ]);
    const request = events.find((event) => event.msg.type === "exec_approval_request");
    expect(request?.id).toBe(events[0]?.id);
    expect(request?.msg).toMatchObject({ command: ["bash", "-lc", "touch approved.txt && echo made it"], cwd: home });
    expect(events.find((event) => event.msg.type === "exec_command_end")?.msg).toMatchObject({ exit_code: 0, stdout: "made it\n" });
    expect(existsSync(path.join(home, "approved.txt"))).toBe(true);
    expect(lastReply(events)).toBe("Tool said: made it");

    await conversation.shutdown();
    const { items } = await readRolloutHistory(conversation.rolloutPath);
    const responseTypes = items.flatMap((item) => (item.type === "response_item" ? [item.payload.type] : []));
    expect(responseTypes.slice(-3)).toEqual(["function_call", "function_call_output", "message"]);
  });

  it("approved for the session: the same command later runs without asking", async () => {
    const { conversation } = await start({ approvalPolicy: "untrusted" });
    const asked: string[] = [];
    const decide = (event: Event) => {
      asked.push(event.id);
      return "approved_for_session" as const;
    };
    await turnWithApprovals(conversation, "RUNSHELL: touch again.txt && echo again", decide);
    const second = await turnWithApprovals(conversation, "RUNSHELL: touch again.txt && echo again", decide);
    expect(asked).toHaveLength(1);
    expect(lastReply(second)).toBe("Tool said: again");
  });

  it("denied: nothing runs, the call ends with exit -1 and the model is told it was rejected", async () => {
    const { home, conversation } = await start({ approvalPolicy: "untrusted" });
    const events = await turnWithApprovals(conversation, "RUNSHELL: touch denied.txt", () => "denied");
    expect(events.find((event) => event.msg.type === "exec_command_end")?.msg).toMatchObject({ exit_code: -1 });
    expect(existsSync(path.join(home, "denied.txt"))).toBe(false);
    expect(lastReply(events)).toBe("Tool said: exec command rejected by user");
  });

  it("abort: nothing runs and the turn is aborted", async () => {
    const { home, conversation } = await start({ approvalPolicy: "untrusted" });
    const events = await turnWithApprovals(conversation, "RUNSHELL: touch aborted.txt", () => "abort");
    expect(events.at(-1)?.msg).toEqual({ type: "turn_aborted", reason: "interrupted" });
    expect(types(events)).not.toContain("task_complete");
    expect(existsSync(path.join(home, "aborted.txt"))).toBe(false);
    const next = await turnWithApprovals(conversation, "hello again", () => "denied");
    expect(lastReply(next)).toMatch(/^Hello from mock, reply #\d+$/);
  });

  it("an answer that matches no pending request is rejected with UnknownApprovalError and runs nothing", async () => {
    const { conversation } = await start({ approvalPolicy: "untrusted" });
    await expect(conversation.submit({ type: "exec_approval", id: "42", decision: "approved" })).rejects.toBeInstanceOf(
      UnknownApprovalError,
    );
    const events = await turnWithApprovals(conversation, "hello", () => "denied");
    expect(lastReply(events)).toMatch(/^Hello from mock/);
  });
});

describe("approval policies", () => {
  it.each([
    ["never", "touch x.txt", false],
    ["untrusted", "echo safe", false],
    ["untrusted", "touch x.txt", true],
    ["on-request", "echo safe", false],
    ["on-failure", "touch x.txt", false],
  ] as const)("%s with `%s` (workspace-write) asks for approval: %s", async (policy, command, asks) => {
    const { conversation } = await start({ approvalPolicy: policy, sandboxPolicy: { mode: "workspace-write" } });
    const events = await turnWithApprovals(conversation, `RUNSHELL: ${command}`, () => "approved");
    expect(types(events).includes("exec_approval_request")).toBe(asks);
    expect(events.find((event) => event.msg.type === "exec_command_end")?.msg).toMatchObject({ exit_code: 0 });
  });
});

describe("the sandbox under each approval policy", () => {
  it("on-request runs an unknown command unasked, inside the sandbox: it writes the workspace, not outside it", async () => {
    const { home, conversation } = await start({ approvalPolicy: "on-request", sandboxPolicy: { mode: "workspace-write" } });
    const outside = path.join(os.tmpdir(), `llmx-escape-${process.pid}-${Date.now()}`);
    const events = await turnWithApprovals(conversation, `RUNSHELL: touch in.txt; touch /etc/llmx-escape ${outside}.x; echo done`, () => {
      throw new Error("nothing should be asked");
    });
    expect(toolEvents(events)).not.toContain("exec_approval_request");
    expect(existsSync(path.join(home, "in.txt"))).toBe(true);
    expect(existsSync("/etc/llmx-escape")).toBe(false);
    const end = events.find((event) => event.msg.type === "exec_command_end")?.msg as { stderr: string };
    expect(end.stderr).toMatch(/Read-only file system|Permission denied/);
  });

  it("read-only keeps even the workspace read-only, and the model's environment context says so", async () => {
    const work = await runtime.home();
    const { conversation } = await start({ cwd: work, approvalPolicy: "never", sandboxPolicy: { mode: "read-only" } });
    const events = await turnWithApprovals(conversation, "RUNSHELL: touch ro.txt");
    expect(existsSync(path.join(work, "ro.txt"))).toBe(false);
    expect(lastReply(events)).toMatch(/Read-only file system/);
    const sent = JSON.stringify(mock.server.requests.at(-1)?.body ?? {});
    expect(sent).toContain("<sandbox_mode>read-only</sandbox_mode>");
    expect(sent).toContain("<network_access>restricted</network_access>");
  });

  it("on-failure asks to run outside the sandbox when the sandbox stops a command; approved, it runs unconfined", async () => {
    const work = await runtime.home();
    const { conversation } = await start({ cwd: work, approvalPolicy: "on-failure", sandboxPolicy: { mode: "read-only" } });
    const reasons: unknown[] = [];
    const events = await turnWithApprovals(conversation, "RUNSHELL: touch retried.txt && echo ok", (event) => {
      reasons.push((event.msg as { reason?: string }).reason);
      return "approved";
    });
    expect(reasons).toEqual([expect.stringMatching(/failed in the sandbox/)]);
    expect(existsSync(path.join(work, "retried.txt"))).toBe(true);
    expect(lastReply(events)).toBe("Tool said: ok");
  });

  it("an untrusted command the user approves runs outside the sandbox (as in Codex)", async () => {
    const { home, conversation } = await start({ approvalPolicy: "untrusted", sandboxPolicy: { mode: "read-only" } });
    const events = await turnWithApprovals(conversation, "RUNSHELL: touch approved.txt; grep NoNewPrivs /proc/self/status", () => "approved");
    expect(existsSync(path.join(home, "approved.txt"))).toBe(true);
    expect(lastReply(events)).toMatch(/NoNewPrivs:\s+0/);
  });
});

/**
 * A script that looks for spawn service sockets under /tmp and asks each, in the service's own framing, to run
 * `touch <target>` outside any sandbox.
 */
function spawnerAttack(target: string): string {
  const msgpackr = createRequire(import.meta.url).resolve("msgpackr");
  return `
const fs = require("fs"), net = require("net"), path = require("path");
const { pack } = require(${JSON.stringify(msgpackr)});
const frame = (message) => { const body = pack(message); const head = Buffer.alloc(4); head.writeUInt32BE(body.length); return Buffer.concat([head, body]); };
for (const dir of fs.readdirSync("/tmp").filter((name) => name.startsWith("llmx-spawner-"))) {
  const socket = net.connect(path.join("/tmp", dir, "socket"));
  socket.on("error", (error) => console.log("refused:", error.code));
  socket.on("connect", () => {
    console.log("connected to", dir);
    const touch = { type: "spawn", id: 1, file: "/bin/sh", args: ["-c", "touch ${target}"], cwd: "/", env: {}, dieWithParent: false };
    socket.write(Buffer.concat([frame({ type: "hello", token: "0".repeat(64) }), frame(touch)]));
    socket.write(frame({ ...touch, id: 2 }));
  });
}
setTimeout(() => process.exit(0), 1000);
`;
}

describe("attacks on the rules and the sandbox, with every request denied", () => {
  // Under untrusted each runs unasked only if the rules call it safe; under every policy whatever runs must not
  // write outside the workspace or print a secret.
  const policies = ["untrusted", "on-request", "never"] as const;
  const modes = ["read-only", "workspace-write"] as const;
  const cases = policies.flatMap((policy) => modes.map((mode) => [policy, mode] as const));

  it.each(cases)("%s / %s: no secret, no write outside, no planted program run unasked", async (policy, mode) => {
    process.env.LLMX_ATTACK_TOKEN = "s3cr3t-token-value";
    try {
      const work = await runtime.home();
      const outside = await runtime.home();
      await writeFile(path.join(work, "bash"), "#!/bin/sh\ntouch planted-ran\n", { mode: 0o755 });
      await writeFile(path.join(work, "spawner-attack.cjs"), spawnerAttack(path.join(outside, "via-spawner.txt")));
      // The temp dir, where both directories live, is not a writable root here.
      const sandboxPolicy = { mode, exclude_slash_tmp: true, exclude_tmpdir_env_var: true };
      const { conversation } = await start({ cwd: work, approvalPolicy: policy, sandboxPolicy });
      const attacks = [
        "RUNSHELL: cat /proc/self/environ; echo $LLMX_ATTACK_TOKEN",
        // The command environment is worked out on a session's first command: later ones, and other ways of
        // listing it, see the same filtered one. The process that forked the command (the spawn service, whose
        // environment is the host's) and every process visible must not give the host's away either.
        "RUNSHELL: printenv; env; echo ${!LLMX_ATTACK*}; declare -p LLMX_ATTACK_TOKEN",
        "RUNSHELL: cat /proc/$PPID/environ; cat /proc/1/environ",
        "RUNSHELL: for p in /proc/[0-9]*/environ; do cat $p; done",
        // The same through every thread of every process (the host's worker threads among them), and ps.
        "RUNSHELL: cat /proc/[0-9]*/task/[0-9]*/environ; ps eww -A",
        `RUNSHELL: echo x > ${path.join(outside, "escaped.txt")}`,
        "RUNSHELL: /proc/self/cwd/bash -c true",
        `RUNSHELL: find . -maxdepth 0 {-true,-exec} touch ${path.join(outside, "brace.txt")} \\;`,
        // The spawn service forks every command: a sandboxed one that finds its socket asks it for an unsandboxed one.
        `RUNSHELL: ${process.execPath} spawner-attack.cjs`,
      ];
      for (const attack of attacks) {
        const events = await turnWithApprovals(conversation, attack, () => "denied");
        const shown = JSON.stringify(events.map((event) => event.msg));
        expect(shown).not.toContain("s3cr3t-token-value");
      }
      expect(existsSync(path.join(outside, "escaped.txt"))).toBe(false);
      expect(existsSync(path.join(outside, "brace.txt"))).toBe(false);
      expect(existsSync(path.join(outside, "via-spawner.txt"))).toBe(false);
      // Under untrusted nothing unknown runs unasked; the other policies run what the model asks, sandboxed.
      if (policy === "untrusted") expect(existsSync(path.join(work, "planted-ran"))).toBe(false);
    } finally {
      delete process.env.LLMX_ATTACK_TOKEN;
    }
  });
});

describe("attacks through the shell call's arguments, with every request denied", () => {
  const policies = ["untrusted", "on-request", "on-failure", "never"] as const;
  const modes = ["read-only", "workspace-write"] as const;
  const cases = policies.flatMap((policy) => modes.map((mode) => [policy, mode] as const));

  it.each(cases)("%s / %s: odd argument shapes neither escalate nor write outside the workspace", async (policy, mode) => {
    const work = await runtime.home();
    const outside = await runtime.home();
    const sandboxPolicy = { mode, exclude_slash_tmp: true, exclude_tmpdir_env_var: true };
    const { conversation } = await start({ cwd: work, approvalPolicy: policy, sandboxPolicy });
    const touch = (name: string) => ["bash", "-lc", `touch ${path.join(outside, name)}`];
    const attacks: [name: string, args: string, rejected: boolean][] = [
      // A key that would set a prototype if copied naively, and a nested one.
      ["proto", `{"command":${JSON.stringify(touch("proto"))},"__proto__":{"with_escalated_permissions":true}}`, false],
      ["ctor", `{"command":${JSON.stringify(touch("ctor"))},"constructor":{"prototype":{"with_escalated_permissions":true}}}`, false],
      // Near misses of the escalation flag's type: never read as true.
      ["string-flag", JSON.stringify({ command: touch("string-flag"), with_escalated_permissions: "true" }), true],
      ["number-flag", JSON.stringify({ command: touch("number-flag"), with_escalated_permissions: 1 }), true],
      ["array-flag", JSON.stringify({ command: touch("array-flag"), with_escalated_permissions: [true] }), true],
      // The command as a string, or with a non-string in it.
      ["string-command", JSON.stringify({ command: `touch ${path.join(outside, "string-command")}` }), true],
      ["object-in-command", JSON.stringify({ command: ["bash", "-lc", { toString: "x" }] }), true],
      // Odd timeouts: negative, fractional, beyond a double.
      ["negative-timeout", JSON.stringify({ command: touch("negative-timeout"), timeout_ms: -1 }), true],
      ["huge-timeout", `{"command":${JSON.stringify(touch("huge-timeout"))},"timeout_ms":1e999}`, true],
      // A working directory outside the workspace, and an escalation asked for outright (denied).
      ["workdir", JSON.stringify({ command: ["touch", "workdir"], workdir: outside }), false],
      ["escalated", JSON.stringify({ command: touch("escalated"), with_escalated_permissions: true, justification: "please" }), false],
      // Not JSON, and JSON that is not an object.
      ["not-json", "{command: [touch]", true],
      ["array", JSON.stringify([touch("array")]), true],
    ];
    for (const [name, args, rejected] of attacks) {
      const events = await turnWithApprovals(conversation, `SHELLARGS: ${args}`, () => "denied");
      const reply = lastReply(events);
      if (rejected) {
        expect(reply, name).toMatch(/failed to parse function arguments/);
        expect(types(events), name).not.toContain("exec_command_begin");
      }
    }
    const leaked = ["proto", "ctor", "string-flag", "number-flag", "array-flag", "string-command", "negative-timeout", "huge-timeout", "workdir", "escalated", "array"];
    expect(leaked.filter((name) => existsSync(path.join(outside, name)))).toEqual([]);
  });
});

describe("interrupt", () => {
  it("while the model streams: turn_aborted, and the next turn works", async () => {
    const { conversation } = await start();
    const turnId = await conversation.submit(textInput("MOCK_SLOW tell me a long story"));
    while ((await conversation.nextEvent()).msg.type !== "agent_message_delta");
    await conversation.submit({ type: "interrupt" });
    const rest = await readTurn(conversation, turnId);
    expect(rest.at(-1)).toEqual({ id: turnId, msg: { type: "turn_aborted", reason: "interrupted" } });
    expect(types(rest)).not.toContain("task_complete");
    const next = await turnWithApprovals(conversation, "and now?", () => "denied");
    expect(lastReply(next)).toMatch(/^Hello from mock/);
  });

  it("while a command runs: the process is killed and the turn aborted", async () => {
    // Outside the sandbox, so that the pid the command writes is one the test can look up.
    const { home, conversation } = await start({ approvalPolicy: "never", sandboxPolicy: { mode: "danger-full-access" } });
    const turnId = await conversation.submit(textInput("RUNSHELL: echo $$ > pid.txt; sleep 30"));
    while ((await conversation.nextEvent()).msg.type !== "exec_command_begin");
    const pidFile = path.join(home, "pid.txt");
    await expect.poll(async () => (await readFile(pidFile, "utf8").catch(() => "")).trim(), { timeout: 5_000 }).not.toBe("");
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    await conversation.submit({ type: "interrupt" });
    const rest = await readTurn(conversation, turnId);
    expect(rest.at(-1)?.msg).toEqual({ type: "turn_aborted", reason: "interrupted" });
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe("provider failures", () => {
  it("a 429 is retried with a stream_error notice, then the turn completes", async () => {
    const { conversation } = await start();
    mock.server.failNext({ status: 429 });
    const events = await turnWithApprovals(conversation, "hello", () => "denied");
    expect(events.filter((event) => event.msg.type === "stream_error").map((event) => event.msg)).toEqual([
      { type: "stream_error", message: expect.stringMatching(/^Reconnecting\.\.\. 1\/2/) },
    ]);
    expect(lastReply(events)).toMatch(/^Hello from mock/);
  });

  it("a dropped stream recovers and the reply is recorded once", async () => {
    const { conversation } = await start();
    mock.server.failNext({ dropAfterEvents: 3 });
    const events = await turnWithApprovals(conversation, "hello", () => "denied");
    expect(types(events)).toContain("stream_error");
    expect(types(events).filter((type) => type === "agent_message")).toHaveLength(1);
    await conversation.shutdown();
    const { items } = await readRolloutHistory(conversation.rolloutPath);
    const assistant = items.filter((item) => item.type === "response_item" && item.payload.type === "message" && item.payload.role === "assistant");
    expect(assistant).toHaveLength(1);
  });

  it("a 401 fails the turn with a clear error and no retry", async () => {
    const { conversation } = await start();
    const before = mock.server.requests.length;
    const events = await turnWithApprovals(conversation, "MOCK_401 hello", () => "denied");
    const error = events.find((event) => event.msg.type === "error")?.msg as { message: string };
    expect(error.message).toMatch(/api key/i);
    expect(events.at(-1)?.msg).toEqual({ type: "task_complete", last_agent_message: null });
    expect(mock.server.requests.length - before).toBe(1);
  });
});

describe("connections to the model", () => {
  it("one conversation's requests, turn after turn and on both wire APIs, share one kept-alive connection", async () => {
    for (const wireApi of ["responses", "chat"] as const) {
      const { conversation } = await start({ wireApi, approvalPolicy: "never" });
      const before = mock.server.requests.length;
      expect(lastReply(await turnWithApprovals(conversation, "RUNSHELL: echo one", () => "denied"))).toBe("Tool said: one");
      expect(lastReply(await turnWithApprovals(conversation, "hello"))).toMatch(/Hello from mock/);
      const ports = mock.server.requests.slice(before).map((request) => request.remotePort);
      expect(ports).toHaveLength(3);
      expect(new Set(ports).size).toBe(1);
      await conversation.shutdown();
    }
  });
});

describe("Chat Completions", () => {
  it("runs a streamed tool call and answers with its output", async () => {
    const { conversation } = await start({ wireApi: "chat", approvalPolicy: "never" });
    const events = await turnWithApprovals(conversation, "RUNSHELL: echo from chat", () => "denied");
    expect(lastReply(events)).toBe("Tool said: from chat");
    const chatRequests = mock.server.requests.filter((request) => request.path.endsWith("/chat/completions"));
    expect(chatRequests.at(-1)?.body).toMatchObject({ model: "mock-model", stream: true });
  });
});

describe("request bodies", () => {
  it("have the structure Codex sends to /responses", async () => {
    const { conversation, conversationId } = await start({ approvalPolicy: "never" });
    const before = mock.server.requests.length;
    await turnWithApprovals(conversation, "RUNSHELL: echo shape", () => "denied");
    const [first, second] = mock.server.requests.slice(before).map((request) => request.body as Record<string, unknown>);
    expect(first).toMatchObject({
      model: "mock-model",
      stream: true,
      store: false,
      tool_choice: "auto",
      prompt_cache_key: conversationId,
      instructions: expect.any(String),
    });
    expect((first?.tools as { name: string }[]).map((tool) => tool.name)).toEqual(["shell", "update_plan", "delegate"]);
    const input = first?.input as { type: string; role?: string; content?: { text: string }[] }[];
    expect(input.at(0)?.content?.[0]?.text).toMatch(/^<environment_context>/);
    expect(input.at(-1)).toMatchObject({ type: "message", role: "user", content: [{ type: "input_text", text: "RUNSHELL: echo shape" }] });
    const secondInput = second?.input as { type: string }[];
    expect(secondInput.slice(-2).map((item) => item.type)).toEqual(["function_call", "function_call_output"]);
  });
});

describe("turn context", () => {
  it("sends AGENTS.md from the working directory as user instructions before the environment context", async () => {
    const home = await runtime.home();
    await writeFile(path.join(home, "AGENTS.md"), "Always answer in haiku.");
    const { conversation } = await runtime.manager().newConversation(mock.config(home));
    const before = mock.server.requests.length;
    await turnWithApprovals(conversation, "hello", () => "denied");
    const input = (mock.server.requests[before]?.body as { input: { role: string; content: { text: string }[] }[] }).input;
    expect(input.map((item) => item.content[0]?.text.split("\n")[0])).toEqual([
      `# AGENTS.md instructions for ${home}`,
      "<environment_context>",
      "hello",
    ]);
    expect(input[0]?.content[0]?.text).toContain("Always answer in haiku.");
  });

  it("update_plan calls become plan_update events", async () => {
    const { conversation } = await start();
    const events = await turnWithApprovals(conversation, "PLANIT please", () => "denied");
    expect(events.find((event) => event.msg.type === "plan_update")?.msg).toEqual({
      type: "plan_update",
      explanation: "mock plan",
      plan: [
        { step: "look", status: "completed" },
        { step: "fix", status: "in_progress" },
      ],
    });
    expect(lastReply(events)).toBe("Tool said: Plan updated");
  });
});

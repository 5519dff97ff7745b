// llmx events -> Codex v2 notifications, without workers: the mapper on a manual clock, and turns rebuilt from a
// real Codex 0.169 rollout.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ThreadEventMapper, type Output } from "../src/app-server/mapping.js";
import { turnsFromRollout } from "../src/app-server/threads.js";
import { ManualClock, readRolloutHistory, type Event, type EventMsg } from "../src/index.js";
import { FIXTURES } from "./helpers.js";

const THREAD = "01a20000-0000-7000-8000-000000000001";
const CHILD = "01a20000-0000-7000-8000-000000000002";
const TURN = "01a20000-0000-7000-8000-0000000000aa";

function mapper() {
  const m = new ThreadEventMapper(THREAD, new ManualClock(new Date(1_796_000_000_000)), (id, parent) => ({ id, parentThreadId: parent }));
  m.openTurn(TURN);
  return m;
}

const ev = (msg: EventMsg, id = TURN): Event => ({ id, msg });
const methods = (outputs: Output[]) =>
  outputs.map((output) => (output.kind === "notification" ? output.notification.method : output.kind));
const params = (outputs: Output[], method: string) =>
  outputs.flatMap((output) => (output.kind === "notification" && output.notification.method === method ? [output.notification.params] : []));

describe("ThreadEventMapper", () => {
  it("maps a turn that fails into an error notification and a failed turn carrying the message", () => {
    const m = mapper();
    expect(methods(m.map(ev({ type: "task_started", model_context_window: null })))).toEqual(["thread/status/changed", "turn/started"]);
    const retry = m.map(ev({ type: "stream_error", message: "Reconnecting... 1/2" }));
    expect(params(retry, "error")).toEqual([expect.objectContaining({ willRetry: true, threadId: THREAD, turnId: TURN })]);
    m.map(ev({ type: "error", message: "boom", code: "model_stream" }));
    const end = m.map(ev({ type: "task_complete", last_agent_message: null }));
    expect(methods(end)).toEqual(["turnEnded", "thread/status/changed", "turn/completed"]);
    expect(params(end, "turn/completed")[0]).toMatchObject({
      turn: { id: TURN, status: "failed", error: { message: "boom" } },
    });
    expect(m.status).toEqual({ type: "idle" });
  });

  it("ends an aborted turn as interrupted, with no items", () => {
    const m = mapper();
    m.map(ev({ type: "task_started", model_context_window: null }));
    const end = m.map(ev({ type: "turn_aborted", reason: "interrupted" }));
    expect(params(end, "turn/completed")[0]).toMatchObject({ turn: { status: "interrupted", items: [], itemsView: "notLoaded" } });
  });

  it("reports a sub-agent's command under the sub-agent's thread, announced once with its parent", () => {
    const m = mapper();
    m.map(ev({ type: "task_started", model_context_window: null }));
    const path = [THREAD, CHILD];
    const begin = m.map(
      ev({ type: "exec_command_begin", call_id: "call_1", command: ["bash", "-lc", "ls"], cwd: "/w", parsed_cmd: [], conversation_path: path }),
    );
    expect(methods(begin)).toEqual(["thread/started", "item/started"]);
    expect(params(begin, "thread/started")).toEqual([{ thread: { id: CHILD, parentThreadId: THREAD } }]);
    expect(params(begin, "item/started")[0]).toMatchObject({ threadId: CHILD, item: { type: "commandExecution", command: "bash -lc ls" } });
    const ask = m.map(
      ev({ type: "exec_approval_request", call_id: "call_1", command: ["bash", "-lc", "ls"], cwd: "/w", parsed_cmd: [], conversation_path: path }),
    );
    expect(methods(ask)).toEqual(["thread/status/changed", "approval"]);
    expect(ask.at(-1)).toMatchObject({ request: { threadId: CHILD, parentThreadId: THREAD, eventId: TURN, params: { parentThreadId: THREAD } } });
    expect(m.status).toEqual({ type: "active", activeFlags: ["waitingOnApproval"] });
    expect(params(m.approvalSettled(), "thread/status/changed")).toEqual([{ threadId: THREAD, status: { type: "active", activeFlags: [] } }]);
  });

  it("marks a command the user declined as declined, and one that failed as failed", () => {
    const m = mapper();
    m.map(ev({ type: "task_started", model_context_window: null }));
    const end = (exit: number, secs: number) =>
      params(
        m.map(
          ev({
            type: "exec_command_end",
            call_id: `c${exit}`,
            stdout: "",
            stderr: "x",
            exit_code: exit,
            duration: { secs, nanos: 0 },
            formatted_output: "x",
          }),
        ),
        "item/completed",
      )[0];
    expect(end(-1, 0)).toMatchObject({ item: { status: "declined" } });
    expect(end(2, 1)).toMatchObject({ item: { status: "failed", exitCode: 2, durationMs: 1000 } });
  });

  it("decodes command output deltas for the client", () => {
    const m = mapper();
    m.map(ev({ type: "exec_command_begin", call_id: "c", command: ["echo", "hi"], cwd: "/w", parsed_cmd: [] }));
    const out = m.map(ev({ type: "exec_command_output_delta", call_id: "c", stream: "stdout", chunk: Buffer.from("hi\n").toString("base64") }));
    expect(params(out, "item/commandExecution/outputDelta")).toEqual([{ threadId: THREAD, turnId: TURN, itemId: "c", delta: "hi\n" }]);
  });
});

describe("turnsFromRollout", () => {
  it("rebuilds the turns of a Codex 0.169 app-server rollout: messages and the command it ran", async () => {
    const file = path.join(FIXTURES, "codex-rollouts/appserver-d-plain-turn-then-shell-tool-turn-then-resumed-turn.jsonl");
    const history = await readRolloutHistory(file);
    const turns = turnsFromRollout(history.conversationId, history.items);
    expect(turns).toHaveLength(3);
    expect(turns.map((turn) => turn.items.map((item) => item.type))).toEqual([
      ["userMessage", "agentMessage"],
      ["userMessage", "commandExecution", "agentMessage"],
      ["userMessage", "agentMessage"],
    ]);
    expect(turns[1]?.items[1]).toMatchObject({ type: "commandExecution", status: "completed" });
  });
});

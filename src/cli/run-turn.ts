// Runs one prompt through a conversation to the end of its turn, writing what a CLI user sees: the reply (or,
// with --json, the `codex exec --json` event lines), approval prompts on a terminal.
import type { Conversation, Event, EventMsgOf, ReviewDecision } from "../index.js";
import { createExecJsonTranslator } from "./exec-json.js";

export type TurnOutput = {
  json: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Decides approval requests; without it every request is denied (nobody can be asked). */
  approve?: (request: EventMsgOf<"exec_approval_request">) => Promise<ReviewDecision>;
};

export type TurnResult = { lastAgentMessage: string | null; failed: boolean };

export async function runPrompt(
  conversation: Conversation,
  prompt: string,
  out: TurnOutput,
  sessionConfigured: Event,
): Promise<TurnResult> {
  const translate = createExecJsonTranslator();
  const print = (event: Event): void => {
    if (!out.json) return;
    for (const line of translate(event)) out.stdout.write(`${JSON.stringify(line)}\n`);
  };
  print(sessionConfigured);
  const turnId = await conversation.submit({ type: "user_input", items: [{ type: "text", text: prompt }] });
  let failed = false;
  for await (const event of conversation.events()) {
    print(event);
    const msg = event.msg;
    switch (msg.type) {
      case "error":
        failed = true;
        if (!out.json) out.stderr.write(`error: ${msg.message}\n`);
        break;
      case "stream_error":
        if (!out.json) out.stderr.write(`${msg.message}\n`);
        break;
      case "exec_approval_request": {
        const decision = out.approve ? await out.approve(msg) : "denied";
        if (!out.approve && !out.json) out.stderr.write(`denied (no terminal to ask): ${msg.command.join(" ")}\n`);
        await conversation.submit({ type: "exec_approval", id: event.id, decision });
        break;
      }
      case "task_complete":
        if (event.id !== turnId) break;
        if (!out.json && msg.last_agent_message !== null) out.stdout.write(`${msg.last_agent_message}\n`);
        return { lastAgentMessage: msg.last_agent_message, failed };
      case "turn_aborted":
        if (event.id === turnId) return { lastAgentMessage: null, failed: true };
        break;
    }
  }
  return { lastAgentMessage: null, failed: true };
}

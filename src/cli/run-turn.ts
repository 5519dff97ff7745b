// Runs one prompt through a conversation to the end of its turn, writing what a CLI user sees.
import type { Conversation, EventMsgOf } from "../index.js";

export type TurnOutput = {
  json: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
};

export type TurnResult = { lastAgentMessage: string | null; failed: boolean };

export async function runPrompt(conversation: Conversation, prompt: string, out: TurnOutput): Promise<TurnResult> {
  const turnId = await conversation.submit({ type: "user_input", items: [{ type: "text", text: prompt }] });
  let failed = false;
  for await (const event of conversation.events()) {
    if (out.json) out.stdout.write(`${JSON.stringify(event)}\n`);
    const msg = event.msg;
    if (msg.type === "error") {
      failed = true;
      if (!out.json) out.stderr.write(`error: ${msg.message}\n`);
    }
    if (event.id !== turnId) continue;
    if (msg.type === "task_complete") return finish(msg, failed, out);
    if (msg.type === "turn_aborted") return { lastAgentMessage: null, failed: true };
  }
  return { lastAgentMessage: null, failed: true };
}

function finish(msg: EventMsgOf<"task_complete">, failed: boolean, out: TurnOutput): TurnResult {
  if (!out.json && msg.last_agent_message !== null) out.stdout.write(`${msg.last_agent_message}\n`);
  return { lastAgentMessage: msg.last_agent_message, failed };
}

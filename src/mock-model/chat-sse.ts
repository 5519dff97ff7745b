// The Chat Completions chunk sequence for one mock reply: content or tool-call fragments, usage, `[DONE]`.
import { type MockReply, type MockUsage, splitEvenly, splitWords } from "./replies.js";
import type { SseFrame } from "./sse-writer.js";

export function chatFrames(reply: MockReply, n: number, usage: MockUsage): SseFrame[] {
  const id = `chatcmpl-mock-${n}`;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): SseFrame => ({
    data: { id, object: "chat.completion.chunk", created: 0, model: "mock", choices, ...extra },
  });
  const delta = (fields: Record<string, unknown>, finish_reason: string | null = null): SseFrame =>
    chunk([{ index: 0, delta: fields, finish_reason }]);

  const frames: SseFrame[] = [];
  if (reply.kind === "text") {
    frames.push(delta({ role: "assistant", content: "" }));
    for (const piece of splitWords(reply.text)) frames.push(delta({ content: piece }));
    frames.push(delta({}, "stop"));
  } else {
    const call = { index: 0, id: `call_mock_${n}`, type: "function", function: { name: reply.name, arguments: "" } };
    frames.push(delta({ role: "assistant", content: null, tool_calls: [call] }));
    for (const piece of splitEvenly(reply.arguments, 3)) {
      frames.push(delta({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
    }
    frames.push(delta({}, "tool_calls"));
  }
  frames.push(
    chunk([], {
      usage: {
        prompt_tokens: usage.input,
        completion_tokens: usage.output,
        total_tokens: usage.input + usage.output,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    }),
  );
  frames.push({ data: "[DONE]" });
  return frames;
}

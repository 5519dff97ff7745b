// The Responses API event sequence for one mock reply, as the SSE frames the server writes.
import { type MockReply, type MockUsage, splitEvenly, splitWords } from "./replies.js";
import type { SseFrame } from "./sse-writer.js";

export function responsesFrames(reply: MockReply, n: number, usage: MockUsage): SseFrame[] {
  const responseId = `resp_mock_${n}`;
  const frames: SseFrame[] = [];
  const emit = (type: string, fields: Record<string, unknown>): void => {
    frames.push({ event: type, data: { type, sequence_number: frames.length, ...fields } });
  };
  const response = { id: responseId, object: "response", created_at: 0, model: "mock", status: "in_progress" };
  emit("response.created", { response: { ...response, output: [] } });

  let item: Record<string, unknown>;
  if (reply.kind === "text") {
    const id = `msg_mock_${n}`;
    emit("response.output_item.added", {
      output_index: 0,
      item: { type: "message", id, status: "in_progress", role: "assistant", content: [] },
    });
    for (const delta of splitWords(reply.text)) {
      emit("response.output_text.delta", { item_id: id, output_index: 0, content_index: 0, delta });
    }
    const content = [{ type: "output_text", text: reply.text, annotations: [] }];
    item = { type: "message", id, status: "completed", role: "assistant", content };
  } else {
    const id = `fc_mock_${n}`;
    const call = { type: "function_call", id, call_id: `call_mock_${n}`, name: reply.name };
    emit("response.output_item.added", { output_index: 0, item: { ...call, arguments: "", status: "in_progress" } });
    for (const delta of splitEvenly(reply.arguments, 3)) {
      emit("response.function_call_arguments.delta", { item_id: id, output_index: 0, delta });
    }
    item = { ...call, arguments: reply.arguments, status: "completed" };
  }
  emit("response.output_item.done", { output_index: 0, item });
  emit("response.completed", {
    response: {
      ...response,
      status: "completed",
      output: [item],
      usage: {
        input_tokens: usage.input,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: usage.output,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: usage.input + usage.output,
      },
    },
  });
  return frames;
}

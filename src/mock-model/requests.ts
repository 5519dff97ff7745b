// What the mock model reads from a request: the model name, the last user message and a trailing tool output.
// Both wire APIs reduce to the same `MockTurn`, so the reply rules are written once.
import * as z from "zod";

export type MockTurn = {
  model: string;
  /** Text of the last `user` message ("" when there is none). */
  lastUserText: string;
  /** The output text when the last input item is a tool output. */
  toolOutput: string | undefined;
  /** Rough size of the prompt, for the usage numbers. */
  promptChars: number;
};

const TextPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const Content = z.union([z.string(), z.array(TextPart), z.null()]).optional();

const ResponsesItem = z.looseObject({
  type: z.string().optional(),
  role: z.string().optional(),
  content: Content,
  output: Content,
});

export const ResponsesBody = z.looseObject({
  model: z.string(),
  input: z.union([z.string(), z.array(ResponsesItem)]),
});

const ChatMessage = z.looseObject({ role: z.string(), content: Content });

export const ChatBody = z.looseObject({
  model: z.string(),
  messages: z.array(ChatMessage),
});

function contentText(content: z.infer<typeof Content>): string {
  if (typeof content === "string") return content;
  return (content ?? []).map((part) => part.text ?? "").join("");
}

export function responsesTurn(body: z.infer<typeof ResponsesBody>): MockTurn {
  const promptChars = JSON.stringify(body.input).length;
  if (typeof body.input === "string") {
    return { model: body.model, lastUserText: body.input, toolOutput: undefined, promptChars };
  }
  const lastUser = body.input.findLast((item) => (item.type ?? "message") === "message" && item.role === "user");
  const last = body.input.at(-1);
  const isToolOutput = last?.type === "function_call_output" || last?.type === "custom_tool_call_output";
  return {
    model: body.model,
    lastUserText: contentText(lastUser?.content),
    toolOutput: isToolOutput ? contentText(last.output) : undefined,
    promptChars,
  };
}

export function chatTurn(body: z.infer<typeof ChatBody>): MockTurn {
  const lastUser = body.messages.findLast((message) => message.role === "user");
  const last = body.messages.at(-1);
  return {
    model: body.model,
    lastUserText: contentText(lastUser?.content),
    toolOutput: last?.role === "tool" ? contentText(last.content) : undefined,
    promptChars: JSON.stringify(body.messages).length,
  };
}

// The regular task ("turn"): record the user's input, then ask the model, record what it produces, run the
// tools it calls and ask again, until it answers without calling a tool. Events follow Codex's order
// (section 2.5); the runner announces the task and completes it.
import type { EventMsg, MessageItem, ResponseItem, TokenUsage, TokenUsageInfo, UserInput } from "../../protocol/index.js";
import { userInputToMessage } from "../../protocol/plain.js";
import type { ModelRequest, ToolSpec } from "../../model/types.js";
import { isFunctionCall } from "../../model/types.js";
import { DELEGATE_TOOL, SHELL_TOOL, UPDATE_PLAN_TOOL } from "../../tools/index.js";
import { handleToolCall } from "../tool-calls.js";
import { turnContextItem } from "../settings.js";
import type { SessionTask, TaskContext } from "./task.js";

/** `outputSchema`: the JSON schema the model's final answer must follow (this turn only). */
export function regularTask(input: readonly UserInput[], outputSchema?: unknown): SessionTask {
  return { kind: "regular", run: (ctx, signal) => runTurn(input, ctx, signal, outputSchema) };
}

async function runTurn(
  input: readonly UserInput[],
  ctx: TaskContext,
  signal: AbortSignal,
  outputSchema: unknown,
): Promise<string | null> {
  recordUserMessage(userInputToMessage(input), input, ctx);
  let lastAgentMessage: string | null = null;
  for (;;) {
    await caughtUp(ctx, signal);
    const injected = ctx.takePendingInput();
    if (injected.length > 0) ctx.recordResponseItems(injected);
    ctx.record([{ type: "turn_context", payload: turnContextItem(ctx.settings) }]);
    const request: ModelRequest = {
      model: ctx.settings.model,
      conversationId: ctx.conversationId,
      reasoningEffort: ctx.settings.effort,
      instructions: ctx.baseInstructions,
      input: ctx.history.forPrompt(),
      tools: offeredTools(ctx),
      ...(outputSchema === undefined || outputSchema === null ? {} : { outputSchema }),
    };
    const response = await streamResponse(request, ctx, signal);
    lastAgentMessage = response.lastAgentMessage;
    // Input that arrived while the model answered gets its own request rather than being dropped.
    if (response.calls.length === 0 && !ctx.hasPendingInput()) break;
    for (const call of response.calls) {
      await caughtUp(ctx, signal);
      const output = await handleToolCall(call, {
        subId: ctx.subId,
        settings: ctx.settings,
        emit: (msg) => ctx.emit(msg),
        signal,
        tools: ctx.tools,
      });
      signal.throwIfAborted();
      ctx.recordResponseItems([output]);
    }
  }
  return lastAgentMessage;
}

/** Waits while the client is too far behind (see TaskContext.room); throws if the task was aborted. */
async function caughtUp(ctx: TaskContext, signal: AbortSignal): Promise<void> {
  const wait = ctx.room(signal);
  if (wait !== undefined) await wait;
  signal.throwIfAborted();
}

function recordUserMessage(message: MessageItem, input: readonly UserInput[], ctx: TaskContext): void {
  ctx.recordResponseItems([message]);
  const item = { UserMessage: { id: ctx.newItemId(), content: [...input] } };
  ctx.emit({ type: "item_started", thread_id: ctx.conversationId, turn_id: ctx.subId, item });
  ctx.emit({ type: "item_completed", thread_id: ctx.conversationId, turn_id: ctx.subId, item });
  const text = input.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("");
  const images = input.flatMap((part) => (part.type === "image" ? [part.image_url] : []));
  ctx.emit({ type: "user_message", message: text, images });
}

type StreamedResponse = { lastAgentMessage: string | null; calls: Extract<ResponseItem, { type: "function_call" }>[] };

async function streamResponse(request: ModelRequest, ctx: TaskContext, signal: AbortSignal): Promise<StreamedResponse> {
  const emit = (msg: EventMsg): void => ctx.emit(msg);
  const subId = ctx.subId;
  const thread_id = ctx.conversationId;
  const startedItems = new Set<string>();
  let result: StreamedResponse = { lastAgentMessage: null, calls: [] };
  // Items are recorded when the response completes, so a response that is retried records nothing twice.
  let finished: ResponseItem[] = [];

  for await (const event of ctx.model.stream(request, signal)) {
    // A slow client: stop reading the model's stream (HTTP backpressure) until it catches up.
    await caughtUp(ctx, signal);
    switch (event.type) {
      case "output_item_added":
        if (event.kind === "message") {
          startedItems.add(event.itemId);
          emit({ type: "item_started", thread_id, turn_id: subId, item: agentMessageItem(event.itemId, []) });
        }
        break;
      case "output_text_delta":
        emit({ type: "agent_message_content_delta", thread_id, turn_id: subId, item_id: event.itemId, delta: event.delta });
        emit({ type: "agent_message_delta", delta: event.delta });
        break;
      case "reasoning_summary_delta":
        emit({ type: "agent_reasoning_delta", delta: event.delta });
        break;
      case "output_item_done": {
        const item = event.item;
        if (item.type === "message" && item.role === "assistant") {
          const texts = item.content.flatMap((part) => (part.type === "output_text" ? [part.text] : []));
          if (!startedItems.has(event.itemId)) {
            emit({ type: "item_started", thread_id, turn_id: subId, item: agentMessageItem(event.itemId, []) });
          }
          emit({ type: "item_completed", thread_id, turn_id: subId, item: agentMessageItem(event.itemId, texts) });
          for (const message of texts) emit({ type: "agent_message", message });
          result.lastAgentMessage = texts.at(-1) ?? null;
        } else if (item.type === "reasoning") {
          const summary = item.summary.map((part) => part.text);
          const reasoning = { Reasoning: { id: event.itemId, summary_text: summary, raw_content: [] } };
          emit({ type: "item_completed", thread_id, turn_id: subId, item: reasoning });
          for (const text of summary) emit({ type: "agent_reasoning", text });
        } else if (isFunctionCall(item)) {
          result.calls.push(item);
        }
        finished.push(item);
        break;
      }
      case "completed":
        ctx.recordResponseItems(finished);
        finished = [];
        emit({ type: "token_count", info: accumulateUsage(ctx, event.usage, request.model), rate_limits: null });
        break;
      case "retrying":
        result = { lastAgentMessage: null, calls: [] };
        finished = [];
        startedItems.clear();
        emit({ type: "stream_error", message: `Reconnecting... ${event.attempt}/${event.max} (${event.message})` });
        break;
    }
  }
  return result;
}

function agentMessageItem(id: string, texts: readonly string[]) {
  return { AgentMessage: { id, content: texts.map((text) => ({ Text: { text } })) } };
}

function accumulateUsage(ctx: TaskContext, last: TokenUsage | undefined, model: string): TokenUsageInfo | null {
  if (last === undefined) return null;
  const previous = ctx.usage.total;
  const total: TokenUsage = previous
    ? {
        input_tokens: previous.input_tokens + last.input_tokens,
        cached_input_tokens: previous.cached_input_tokens + last.cached_input_tokens,
        output_tokens: previous.output_tokens + last.output_tokens,
        reasoning_output_tokens: previous.reasoning_output_tokens + last.reasoning_output_tokens,
        total_tokens: previous.total_tokens + last.total_tokens,
      }
    : last;
  ctx.usage.total = total;
  return { total_token_usage: total, last_token_usage: last, model_context_window: ctx.model.contextWindow(model) };
}

function offeredTools(ctx: TaskContext): ToolSpec[] {
  if (!ctx.tools.enabled) return [];
  return ctx.tools.delegate ? [SHELL_TOOL, UPDATE_PLAN_TOOL, DELEGATE_TOOL] : [SHELL_TOOL, UPDATE_PLAN_TOOL];
}

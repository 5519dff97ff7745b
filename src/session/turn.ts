// One task ("turn"): record the user's input, then ask the model, record what it produces, run the tools it
// calls and ask again, until it answers without calling a tool. Events follow Codex's order (section 2.5).
import type {
  EventMsg,
  MessageItem,
  ResponseItem,
  RolloutItem,
  TokenUsage,
  TokenUsageInfo,
  UserInput,
} from "../protocol/index.js";
import { userInputToMessage } from "../protocol/index.js";
import type { ModelClient, ModelRequest, ToolSpec } from "../model/types.js";
import { isFunctionCall } from "../model/types.js";
import { DELEGATE_TOOL, SHELL_TOOL, UPDATE_PLAN_TOOL } from "../tools/index.js";
import type { PendingApprovals } from "./approvals.js";
import type { ConversationHistory } from "./history.js";
import { handleToolCall } from "./tool-calls.js";
import type { DelegateContext } from "../delegate/delegate.js";
import type { TurnSettings } from "./settings.js";
import { turnContextItem } from "./settings.js";

export type TurnDeps = {
  conversationId: string;
  model: ModelClient;
  history: ConversationHistory;
  baseInstructions: string;
  newItemId(): string;
  emit(msg: EventMsg): void;
  record(items: readonly RolloutItem[]): void;
  /** Input sent while this turn runs; taken at the start of each model request. */
  takePendingInput(): ResponseItem[];
  hasPendingInput(): boolean;
  /** Called right before `task_complete` is emitted: from then on the turn can no longer be aborted. */
  markFinishing(): void;
  /** Token usage of the session so far; the turn adds to it. */
  usage: { total: TokenUsage | undefined };
  approvals: PendingApprovals;
  approvedForSession: Set<string>;
  /** How this turn may start sub-agents (undefined when it cannot). */
  delegation(signal: AbortSignal): DelegateContext | undefined;
  /** Reports a command's process group to the supervisor. */
  trackProcessGroup(pid: number, running: boolean): void;
  canDelegate: boolean;
  toolsEnabled: boolean;
};

export async function runTurn(
  subId: string,
  input: readonly UserInput[],
  settings: TurnSettings,
  deps: TurnDeps,
  signal: AbortSignal,
): Promise<void> {
  const { emit } = deps;
  emit({ type: "task_started", model_context_window: deps.model.contextWindow(settings.model) });
  recordUserMessage(userInputToMessage(input), input, subId, deps);

  // A failure ends the task through the session, which reports it (error, then task_complete) unless aborted.
  let lastAgentMessage: string | null = null;
  for (;;) {
    signal.throwIfAborted();
    const injected = deps.takePendingInput();
    if (injected.length > 0) recordItems(injected, deps);
    deps.record([{ type: "turn_context", payload: turnContextItem(settings) }]);
    const request: ModelRequest = {
      model: settings.model,
      conversationId: deps.conversationId,
      reasoningEffort: settings.effort,
      instructions: deps.baseInstructions,
      input: deps.history.forPrompt(),
      tools: offeredTools(deps),
    };
    const response = await streamResponse(request, subId, deps, signal);
    lastAgentMessage = response.lastAgentMessage;
    // Input that arrived while the model answered gets its own request rather than being dropped.
    if (response.calls.length === 0 && !deps.hasPendingInput()) break;
    for (const call of response.calls) {
      signal.throwIfAborted();
      const output = await handleToolCall(call, {
        subId,
        settings,
        emit,
        approvals: deps.approvals,
        approvedForSession: deps.approvedForSession,
        signal,
        delegation: deps.delegation(signal),
        trackProcessGroup: deps.trackProcessGroup,
      });
      signal.throwIfAborted();
      recordItems([output], deps);
    }
  }
  deps.markFinishing();
  emit({ type: "task_complete", last_agent_message: lastAgentMessage });
}

function recordItems(items: readonly ResponseItem[], deps: TurnDeps): void {
  deps.history.record(items);
  deps.record(items.map((payload) => ({ type: "response_item", payload })));
}

function recordUserMessage(message: MessageItem, input: readonly UserInput[], subId: string, deps: TurnDeps): void {
  recordItems([message], deps);
  const item = { UserMessage: { id: deps.newItemId(), content: [...input] } };
  deps.emit({ type: "item_started", thread_id: deps.conversationId, turn_id: subId, item });
  deps.emit({ type: "item_completed", thread_id: deps.conversationId, turn_id: subId, item });
  const text = input.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("");
  const images = input.flatMap((part) => (part.type === "image" ? [part.image_url] : []));
  deps.emit({ type: "user_message", message: text, images });
}

type StreamedResponse = { lastAgentMessage: string | null; calls: Extract<ResponseItem, { type: "function_call" }>[] };

async function streamResponse(
  request: ModelRequest,
  subId: string,
  deps: TurnDeps,
  signal: AbortSignal,
): Promise<StreamedResponse> {
  const { emit } = deps;
  const thread_id = deps.conversationId;
  const startedItems = new Set<string>();
  let result: StreamedResponse = { lastAgentMessage: null, calls: [] };
  // Items are recorded when the response completes, so a response that is retried records nothing twice.
  let finished: ResponseItem[] = [];

  for await (const event of deps.model.stream(request, signal)) {
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
        recordItems(finished, deps);
        finished = [];
        emit({ type: "token_count", info: accumulateUsage(deps, event.usage, request.model), rate_limits: null });
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

function accumulateUsage(deps: TurnDeps, last: TokenUsage | undefined, model: string): TokenUsageInfo | null {
  if (last === undefined) return null;
  const previous = deps.usage.total;
  const total: TokenUsage = previous
    ? {
        input_tokens: previous.input_tokens + last.input_tokens,
        cached_input_tokens: previous.cached_input_tokens + last.cached_input_tokens,
        output_tokens: previous.output_tokens + last.output_tokens,
        reasoning_output_tokens: previous.reasoning_output_tokens + last.reasoning_output_tokens,
        total_tokens: previous.total_tokens + last.total_tokens,
      }
    : last;
  deps.usage.total = total;
  return { total_token_usage: total, last_token_usage: last, model_context_window: deps.model.contextWindow(model) };
}

function offeredTools(deps: TurnDeps): ToolSpec[] {
  if (!deps.toolsEnabled) return [];
  return deps.canDelegate ? [SHELL_TOOL, UPDATE_PLAN_TOOL, DELEGATE_TOOL] : [SHELL_TOOL, UPDATE_PLAN_TOOL];
}
